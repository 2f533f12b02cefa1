"""Training the harmony tasks: tiny models overfit a batch; the service and CLI train,
and the registry then harmonises with what they wrote."""

import time

import numpy as np
import pytest

from composer.cli import main
from composer.ml.checkpoint import build_model
from composer.ml.harmony_tasks import HarmonyWindows
from composer.services import harmony_models
from composer.services.harmonize import LiveHarmonizer, harmonize
from corpora import pop909
from corpora.store import Piece, corpus_dir, write_manifest, write_pieces

from .builders import melody_song
from .neural_builders import TINY, demo_chorale, lead_sheet, shard_of


@pytest.mark.parametrize("task", ["chorale", "chords"])
@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_a_tiny_model_overfits_one_batch(task, arch):
    import torch

    shard, vocab = shard_of(task, [demo_chorale() if task == "chorale" else lead_sheet()])
    windows = HarmonyWindows(shard, vocab, 96, task, live_rate=0.25, transpose_range=(-6, 5))
    x, y = windows.sample_batch(4, np.random.default_rng(0))
    torch.manual_seed(0)
    model = build_model(dict(TINY[arch], arch=arch, vocab_size=len(vocab), block_size=96))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


@pytest.fixture
def tiny_corpora(tmp_path, monkeypatch):
    """A cache holding one chorale per split and one lead sheet per POP909 split,
    and an empty models folder with the shipped HMMs."""
    import shutil

    from composer.paths import REPO_ROOT

    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(tmp_path / "models"))
    for style in ("chorale", "chords"):
        shutil.copytree(REPO_ROOT / "models" / f"harmony-hmm-{style}",
                        tmp_path / "models" / f"harmony-hmm-{style}")
    for name in ("music21", pop909.CORPUS_NAME):
        corpus_dir(name).mkdir(parents=True)
    for split in ("train", "valid", "test"):
        write_pieces(corpus_dir("music21") / f"chorales_{split}.jsonl.gz",
                     [Piece("bach/bwv80.8", "bach", demo_chorale())])
        write_pieces(corpus_dir(pop909.CORPUS_NAME) / f"songs_{split}.jsonl.gz",
                     [Piece("999", "pop909", lead_sheet())])
    write_manifest(pop909.CORPUS_NAME, {"format_version": pop909.FORMAT_VERSION})
    harmony_models.clear_cache()
    yield tmp_path
    harmony_models.clear_cache()


def test_trained_checkpoints_join_the_harmonizer_and_the_live_path(tiny_corpora, capsys):
    from composer.services.train import train_task

    models = tiny_corpora / "models"
    for task in ("chorale", "chords"):
        summary = train_task(task, "transformer", run_dir=tiny_corpora / "runs" / task,
                             out_dir=models / f"harmony-{task}-transformer", max_steps=4,
                             model_overrides=TINY["transformer"],
                             train_overrides={"batch_size": 2, "eval_interval": 2,
                                              "eval_batches": 1, "warmup_steps": 1})
        assert summary["steps"] == 4
    assert harmony_models.available_models("chorale") == ["transformer", "hmm"]
    song = melody_song()
    chorale = harmonize(song, style="chorale", model="transformer", variations=2, seed=3)
    assert [t.name for t in chorale.variations[0]] == ["Alto", "Tenor", "Bass"]
    assert all(t.notes for t in chorale.variations[0])
    chords = harmonize(song, style="chords", model="transformer", variations=1, seed=3)
    assert chords.variations[0][0].texts and len(chords.chords[0]) == len(chords.beats_ticks)
    # auto keeps the HMM: a four-step model has no card figures that beat it
    assert LiveHarmonizer(style="chorale").model == "hmm"
    live = LiveHarmonizer(style="chorale", model="transformer")  # the fast path
    assert live.note_on(67)
    # Its look-ahead thread answers a held note's successors before they come, and
    # they are the answers a session without the wait (so without them) gives.
    plain = LiveHarmonizer(style="chorale", model="transformer")
    plain.note_on(67)
    session = live._session.session
    for pitch in (69, 71, 72, 74, 72, 71, 69, 67, 55, 84):
        deadline = time.monotonic() + 10
        while not session._ahead and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session._ahead  # decoded while the note was held
        assert live.note_on(pitch) == plain.note_on(pitch)
    # the CLI trains through the same service (one step of the task's own defaults)
    assert main(["train", "--task", "chorale", "--model", "lstm", "--max-steps", "1",
                 "--out", str(models / "harmony-chorale-lstm"), "--json"]) == 0
    assert '"task": "chorale"' in capsys.readouterr().out
    assert harmony_models.available_models("chorale") == ["transformer", "lstm", "hmm"]
