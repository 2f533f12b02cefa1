"""The lean decoding path of the shipped Transformer gives the numbers and notes of the modules.

Out of training the Transformer runs its layers as plain functional operations
on weights gathered once (cached steps with PyTorch's GELU instead of oneDNN's),
and the sampler draws in numpy on the allowed tokens only; these tests hold the
layers to the reference computation (the ``nn.Module`` path with dropout off)
and the sampler to the distribution it must draw from (softmax of the logits
over the temperature, cut to the top-p nucleus).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from composer.ml.checkpoint import build_model, load_checkpoint
from composer.ml.sampling import generate, nucleus_size, sample_row
from composer.services.generate import GenerationSettings
from tests.ml.conftest import tune

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "melody-transformer"


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED)


def module_twin(model: torch.nn.Module) -> torch.nn.Module:
    """The same weights in training mode with dropout off: every layer runs as a module."""
    twin = build_model({**model.config.to_dict(), "dropout": 0.0})
    twin.load_state_dict(model.state_dict())
    return twin.train()


def prompt_ids(vocab_size: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab_size, (2, length), generator=torch.Generator().manual_seed(seed))


def test_lean_forward_matches_the_modules(shipped):
    model = shipped.model
    assert not model.training
    idx = prompt_ids(model.config.vocab_size, 120)
    with torch.no_grad():
        lean, _ = model(idx)
        reference, _ = module_twin(model)(idx)
    assert lean.shape == reference.shape == (2, 120, model.config.vocab_size)
    assert torch.allclose(lean, reference, atol=1e-5, rtol=0)


def test_lean_cached_steps_match_the_full_forward(shipped):
    model = shipped.model
    idx = prompt_ids(model.config.vocab_size, 140, seed=1)
    with torch.no_grad():
        reference, _ = module_twin(model)(idx)
        state = model.new_state(2)
        pieces = [model.step(idx[:, :100], state)[0]]
        for t in range(100, 140, 2):  # two tokens at a time, as a bar line and its meter are fed
            pieces.append(model.step(idx[:, t:t + 2], state)[0])
    assert state.length == 140
    # Cached steps sum attention in another order: float32 rounding on logits up to
    # about 12 reaches 1e-5 (measured 1.1e-5 on the shipped model); a wrong cache slot
    # or position moves them by whole units.
    assert torch.allclose(torch.cat(pieces, dim=1), reference, atol=5e-5, rtol=0)
    assert torch.backends.mkldnn.enabled  # the steps put oneDNN back as they found it


def test_weights_are_gathered_again_after_the_model_is_cast(shipped):
    twin = module_twin(shipped.model).eval()
    idx = prompt_ids(twin.config.vocab_size, 16, seed=2)
    with torch.no_grad():
        twin(idx)  # gathers the float32 weights
        twin.to(torch.float64)
        logits, _ = twin(idx)
    assert logits.dtype == torch.float64


def expected_distribution(logits: np.ndarray, allowed: np.ndarray, temperature: float,
                          top_p: float) -> np.ndarray:
    """Softmax of the allowed logits over the temperature, cut to the top-p nucleus."""
    probs = np.where(allowed, np.exp(logits / temperature), 0.0)
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    cut = np.zeros_like(probs)
    kept = order[(before < top_p) | (np.arange(len(order)) == 0)]
    cut[kept] = probs[kept]
    return cut / cut.sum()


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.9, 0.95), (1.3, 0.5)])
def test_sampling_draws_from_the_cut_softmax_of_the_allowed_tokens(temperature, top_p):
    logits = np.random.default_rng(3).normal(size=12).astype(np.float32) * 1.5
    allowed = np.ones(12, dtype=bool)
    allowed[[2, 7]] = False  # tokens a constraint forbids
    expected = expected_distribution(logits.astype(np.float64), allowed, temperature, top_p)
    rng, draws = np.random.default_rng(9), 40_000
    counts = np.bincount([sample_row(logits, allowed, temperature, top_p, rng)
                          for _ in range(draws)], minlength=12)
    assert counts[~allowed].sum() == 0 and counts[expected == 0].sum() == 0
    # Every token's count within five standard deviations of its binomial mean.
    sigma = np.sqrt(draws * expected * (1 - expected))
    assert np.all(np.abs(counts - draws * expected) <= 5 * sigma + 1)


def test_greedy_sampling_takes_the_best_allowed_token():
    logits = np.array([5.0, 1.0, 3.0, 4.0], dtype=np.float32)
    allowed = np.array([False, True, True, True])
    rng = np.random.default_rng(0)
    assert sample_row(logits, allowed, 0.0, 0.9, rng) == 3


def test_top_p_keeps_the_smallest_nucleus():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    assert nucleus_size(probs, 0.75) == 2
    assert nucleus_size(probs, 0.79) == 2
    assert nucleus_size(probs, 0.81) == 3
    assert nucleus_size(probs, 0.1) == 1
    assert nucleus_size(probs, 1.0) == 4


class Free:
    """Any token but the first four, for a fixed number of tokens."""

    def __init__(self, vocab_size: int, length: int) -> None:
        self.mask = torch.ones(vocab_size, dtype=torch.bool)
        self.mask[:4] = False
        self.left = length
        self.done = False

    def allowed(self):
        return self.mask.numpy()

    def advance(self, token: int) -> None:
        self.left -= 1
        self.done = self.left == 0


def test_generation_is_the_same_on_the_lean_and_module_paths(shipped):
    model = shipped.model
    prompt = prompt_ids(model.config.vocab_size, 60, seed=4)[0].tolist()
    size = model.config.vocab_size
    rows = [generate(net, prompt, [Free(size, 50) for _ in range(3)], temperature=0.9, top_p=0.95,
                     seed=11) for net in (model, module_twin(model))]
    assert rows[0] == rows[1]
    assert all(len(row) == 50 and min(row) >= 4 for row in rows[0])


def test_shipped_transformer_continuation_repeats_for_a_seed(shipped):
    from composer.ml.melody import song_key
    from composer.ml.melody_generator import NeuralMelodyGenerator

    generator = NeuralMelodyGenerator(SHIPPED)
    song = tune(bars=4)
    notes = sorted(song.tracks[0].notes)
    settings = GenerationSettings(bars=8, variations=2, seed=21, key_lock=True,
                                  pitch_range=(60, 81))

    def run(seed: int):
        return generator.continue_notes(song, notes, song_key(song), notes[-1].end_tick,
                                        GenerationSettings(**{**settings.__dict__, "seed": seed}))

    first, again, other = run(21), run(21), run(22)
    assert first.variations == again.variations
    assert first.variations != other.variations
    for line in first.variations:
        assert line and all(60 <= n.pitch <= 81 and n.pitch % 12 in {0, 2, 4, 5, 7, 9, 11}
                            for n in line)
        assert line[0].start_tick == notes[-1].end_tick


def test_cli_continue_with_the_shipped_transformer_is_deterministic(tmp_path):
    from composer.io.midi_file import read_midi, write_midi

    write_midi(tune(bars=4), tmp_path / "in.mid")
    env = {**os.environ, "COMPOSER_MODELS_DIR": str(REPO / "models")}
    outputs = []
    for name in ("a.mid", "b.mid"):
        done = subprocess.run(
            [sys.executable, "-m", "composer.cli", "continue", str(tmp_path / "in.mid"),
             "-o", str(tmp_path / name), "--bars", "8", "--variations", "2", "--seed", "7",
             "--model", "transformer", "--temperature", "0.9", "--top-p", "0.95"],
            capture_output=True, text=True, env=env, cwd=REPO)
        assert done.returncode == 0, done.stderr
        outputs.append([track.notes for track in read_midi(tmp_path / name).tracks])
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 3 and all(outputs[0][1:])
