"""The transcription network: config, shapes, learning, folding, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from composer.audio import checkpoint
from composer.audio.features import N_CQT_BINS, N_KEYS
from composer.audio.model import Transcriber, TranscriberConfig
from composer.errors import ModelError


def test_config_round_trips_through_json():
    config = TranscriberConfig(stem_channels=8, channels=12, dilations=(1, 2))
    data = json.loads(json.dumps(config.to_dict()))
    assert TranscriberConfig.from_dict(data) == config


@pytest.mark.parametrize("bad", [{"channels": 0}, {"dilations": (0,)}, {"harmonics": ()},
                                 {"loss_weights": {"pitch": 1.0}}])
def test_config_names_the_bad_value(bad):
    with pytest.raises(ValueError) as err:
        TranscriberConfig(**bad)
    assert next(iter(bad)).split("_")[0] in str(err.value)


def test_unknown_config_field_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        TranscriberConfig.from_dict({"depth": 3})


def _targets(batch: int, frames: int) -> dict[str, torch.Tensor]:
    onset = torch.zeros(batch, frames, N_KEYS)
    frame = torch.zeros(batch, frames, N_KEYS)
    onset[:, 5, 39] = 1
    frame[:, 5:30, 39] = 1
    velocity = onset * 0.7
    contour = torch.zeros(batch, frames, N_KEYS * 3)
    contour[:, 5:30, 39 * 3 + 1] = 1
    return {"onset": onset, "frame": frame, "velocity": velocity, "contour": contour}


def test_forward_shapes_and_loss():
    model = Transcriber(TranscriberConfig())
    spec = torch.rand(2, N_CQT_BINS, 40)
    outputs, loss = model(spec, _targets(2, 40))
    assert outputs["onset"].shape == (2, 40, N_KEYS)
    assert outputs["frame"].shape == (2, 40, N_KEYS)
    assert outputs["velocity"].shape == (2, 40, N_KEYS)
    assert outputs["contour"].shape == (2, 40, N_KEYS * 3)
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss)
    _, no_loss = model(spec)
    assert no_loss is None


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = Transcriber(TranscriberConfig(stem_channels=6, channels=8, dilations=(1, 2)))
    spec = torch.rand(2, N_CQT_BINS, 40)
    targets = _targets(2, 40)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    # The one note is 0.2% of the frame targets: it takes a couple of hundred
    # steps (well under a second) before the network stops calling it silence.
    for _ in range(250):
        _, loss = model(spec, targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < first * 0.05
    model.eval()
    probs = model.predict(spec[0])
    assert probs["frame"][10, 39] > 0.5 and probs["frame"][10, 60] < 0.5


def test_folding_batch_norm_keeps_outputs():
    torch.manual_seed(1)
    model = Transcriber(TranscriberConfig())
    model.train()
    for _ in range(3):  # give the batch norms non-trivial running statistics
        model(torch.rand(2, N_CQT_BINS, 30))
    model.eval()
    spec = torch.rand(N_CQT_BINS, 50)
    before = model.predict(spec)
    model.fold_batch_norm()
    after = model.predict(spec)
    for name in before:
        torch.testing.assert_close(before[name], after[name], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("slice_frames", [7, 64, 1000])
def test_inference_in_slices_equals_one_pass(slice_frames):
    from composer.audio.inference import predict_window

    torch.manual_seed(3)
    model = Transcriber(TranscriberConfig())
    model.eval()
    spec_db = np.random.default_rng(3).uniform(-80, 0, (N_CQT_BINS, 150)).astype(np.float32)
    whole = predict_window(model, spec_db, slice_frames=10_000)
    sliced = predict_window(model, spec_db, slice_frames=slice_frames)
    for name in whole:
        assert sliced[name].shape == whole[name].shape
        np.testing.assert_allclose(sliced[name], whole[name], atol=1e-5)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(2)
    model = Transcriber(TranscriberConfig())
    model.eval()
    checkpoint.save_checkpoint(model, training={"steps": 0}, directory=tmp_path)
    card = json.loads((tmp_path / "card.json").read_text())
    for field in ("model", "features", "decode", "training", "libraries", "sha256", "parameters"):
        assert field in card
    loaded, loaded_card = checkpoint.load_checkpoint(tmp_path, use_cache=False)
    spec = torch.rand(N_CQT_BINS, 64)
    expected = model.predict(spec)
    got = loaded.predict(spec)
    for name in expected:
        torch.testing.assert_close(expected[name], got[name], atol=1e-5, rtol=1e-4)
    assert loaded_card["sha256"] == card["sha256"]


def test_altered_weights_are_refused(tmp_path):
    model = Transcriber(TranscriberConfig())
    checkpoint.save_checkpoint(model, training={}, directory=tmp_path)
    data = bytearray((tmp_path / "model.pt").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "model.pt").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        checkpoint.load_checkpoint(tmp_path, use_cache=False)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no transcription model"):
        checkpoint.load_checkpoint(tmp_path / "nothing", use_cache=False)


def test_shipped_checkpoint_loads_and_is_small():
    directory = checkpoint.default_dir()
    size = (directory / "model.pt").stat().st_size
    assert size < 50 * 1024 * 1024
    model, card = checkpoint.load_checkpoint()
    assert card["training"]["steps"] > 0
    assert card["evaluation"], "the card records the evaluation figures"
    probs = model.predict(torch.zeros(N_CQT_BINS, 20))
    assert float(probs["frame"].max()) < 0.5  # silence is not a note
    assert np.isfinite(probs["contour"].numpy()).all()


def _write_session(path, seed: int) -> None:
    """A small session file as scripts/transcription_render.py writes one."""
    from composer.audio.targets import session_targets

    frames = 400
    notes = np.array([(60, 0.5, 1.5, 90, 0), (64, 2.0, 3.0, 80, 0)], np.float64)
    targets = session_targets(notes, np.zeros((1, frames), np.float32), frames)
    cqt = np.random.default_rng(seed).uniform(-80, 0, (N_CQT_BINS, frames))
    np.savez(path, cqt=cqt.astype(np.float16), notes=notes.astype(np.float32),
             meta=np.array("{}"), **targets)


def test_a_warm_started_run_starts_from_the_given_weights_and_scores_them_first(tmp_path):
    from composer.audio.training import TrainSettings, train

    for split, seed in (("train", 0), ("dev", 1)):
        (tmp_path / split).mkdir()
        _write_session(tmp_path / split / "session_0000.npz", seed)
    config = TranscriberConfig(stem_channels=4, channels=6, dilations=(1,))
    torch.manual_seed(123)
    start = Transcriber(config).state_dict()
    torch.save(start, tmp_path / "start.pt")
    # A learning rate too small to move a weight (batch-norm statistics still move).
    settings = TrainSettings(batch_size=1, crop_frames=64, max_steps=2, warmup_steps=1,
                             eval_interval=1, dev_seconds=5.0, learning_rate=1e-12,
                             min_learning_rate=1e-12)
    summary = train(config, settings, tmp_path / "train", tmp_path / "dev", tmp_path / "run",
                    report=lambda _: None, init_from=tmp_path / "start.pt")
    assert summary["init_from"] == str(tmp_path / "start.pt")
    assert [h["step"] for h in summary["history"]] == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "run").glob("step_*.pt")) == [
        "step_0.pt", "step_1.pt", "step_2.pt"]  # every scored step can be shipped
    final = torch.load(tmp_path / "run" / "state.pt", weights_only=True)["model"]
    parameters = {name for name, _ in Transcriber(config).named_parameters()}
    assert all(torch.allclose(final[k], start[k], atol=1e-6) for k in parameters)


def _write_two_part_session(path) -> None:
    """A session with a chorale-like excerpt (keys 60 and 64) then a single line (key 72)."""
    from composer.audio.targets import session_targets

    frames = 500
    notes = np.array([(60, 0.5, 2.5, 90, 0), (64, 0.5, 2.5, 90, 1), (72, 4.0, 6.0, 90, 0)],
                     np.float64)
    targets = session_targets(notes, np.zeros((2, frames), np.float32), frames)
    cqt = np.random.default_rng(3).uniform(-80, 0, (N_CQT_BINS, frames))
    meta = {"excerpts": [{"programs": [0, 0], "start_s": 0.5, "duration_s": 2.0},
                         {"programs": [73], "start_s": 4.0, "duration_s": 2.0}]}
    np.savez(path, cqt=cqt.astype(np.float16), notes=notes.astype(np.float32),
             meta=np.array(json.dumps(meta)), **targets)


def test_a_single_line_run_takes_every_crop_from_single_line_excerpts(tmp_path):
    from composer.audio.training import Sessions, TrainSettings

    _write_two_part_session(tmp_path / "session_0000.npz")
    sessions = Sessions.from_dir(tmp_path)
    first, end = 4.0 - 0.25, 6.0 + 0.5  # from just before the line to its release
    assert sessions.mono_spans.tolist() == [[0, int(first * 62.5), int(end * 62.5)]]
    sounding: dict[float, set[int]] = {}
    for share in (0.0, 1.0):
        rng = np.random.default_rng(0)
        keys: set[int] = set()
        for _ in range(40):
            _, targets = sessions.batch(rng, 2, 64, TrainSettings(mono_share=share))
            keys |= {21 + int(k) for k in np.flatnonzero(targets["frame"].sum(dim=(0, 1)))}
        sounding[share] = keys
    assert sounding[1.0] == {72}
    assert {60, 64} <= sounding[0.0]


def test_the_single_line_network_is_kept_beside_the_general_one_and_checked(tmp_path):
    config = TranscriberConfig(stem_channels=4, channels=6, dilations=(1,))
    torch.manual_seed(4)
    general = Transcriber(config)
    checkpoint.save_checkpoint(general, training={}, directory=tmp_path)
    assert checkpoint.load_mono_network(tmp_path, use_cache=False) is None

    line = Transcriber(config)
    line.eval()
    checkpoint.save_mono_network(line, {"steps": 3}, tmp_path)
    card = checkpoint.read_card(tmp_path)
    assert card["mono"]["training"] == {"steps": 3}
    assert card["mono"]["sha256"] != card["sha256"]
    loaded = checkpoint.load_mono_network(tmp_path, use_cache=False)
    spec = torch.rand(N_CQT_BINS, 40)
    torch.testing.assert_close(loaded.predict(spec)["frame"], line.predict(spec)["frame"],
                               atol=1e-5, rtol=1e-4)

    with pytest.raises(ModelError, match="shape"):
        checkpoint.save_mono_network(Transcriber(TranscriberConfig()), {}, tmp_path)
    data = bytearray((tmp_path / "mono.pt").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "mono.pt").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        checkpoint.load_mono_network(tmp_path, use_cache=False)
    # New general weights: the single-line network tuned from the old ones goes.
    checkpoint.save_checkpoint(general, training={}, directory=tmp_path)
    assert not (tmp_path / "mono.pt").exists()
    assert checkpoint.load_mono_network(tmp_path, use_cache=False) is None


def test_mono_mode_runs_the_single_line_network_and_poly_mode_the_general_one():
    from composer.audio.features import SAMPLE_RATE
    from composer.audio.pipeline import decode_windows, windows_from_array

    t = np.arange(int(2.0 * SAMPLE_RATE)) / SAMPLE_RATE
    audio = np.zeros_like(t)
    for start, midi in ((0.2, 67), (0.8, 69), (1.4, 72)):
        hz = 440.0 * 2 ** ((midi - 69) / 12)
        on = (t >= start) & (t < start + 0.5)
        audio += on * sum(np.sin(2 * np.pi * hz * h * t) / h for h in (1, 2, 3))
    audio = (0.2 * audio).astype(np.float32)
    shipped, _ = checkpoint.load_checkpoint()
    torch.manual_seed(9)
    untrained = Transcriber(TranscriberConfig())
    untrained.eval()

    def notes(model, mode, mono_model=None):
        return decode_windows(model, windows_from_array(audio), mode=mode,
                              mono_model=mono_model).notes

    through_line = notes(untrained, "mono", mono_model=shipped)
    assert [n.pitch for n in through_line] == [67, 69, 72]
    assert through_line == notes(shipped, "mono")
    assert through_line != notes(untrained, "mono")
    assert notes(shipped, "poly", mono_model=untrained) == notes(shipped, "poly")
