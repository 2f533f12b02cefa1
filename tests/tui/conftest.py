"""Fixtures for the editor tests: an isolated state folder and small songs to open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from composer.core.song import KeySignature, Note, Song, Track
from composer.io.project_file import Project, write_project


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own state folder (recovery files, last project, crash log)."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("COMPOSER_STATE_DIR", str(state))
    monkeypatch.setenv("COMPOSER_PRELOAD_MODELS", "0")
    return state


def two_track_song() -> Song:
    """Two bars of a C-major melody over a bass line, 120 BPM, 4/4."""
    melody = tuple(
        Note(pitch=p, start_tick=i * 480, duration_ticks=480, velocity=90)
        for i, p in enumerate((60, 62, 64, 65, 67, 65, 64, 62))
    )
    bass = tuple(
        Note(pitch=p, start_tick=i * 1920, duration_ticks=1920) for i, p in enumerate((48, 43))
    )
    return Song(
        tracks=(
            Track(name="Melody", notes=melody, program=73, channel=0),
            Track(name="Bass", notes=bass, program=32, channel=1),
        ),
        keys=(KeySignature(0, 0, "major"),),
        title="Test tune",
    )


@pytest.fixture
def project_file(tmp_path: Path) -> Callable[[Song], Path]:
    """Write a song as a project file and return its path."""

    def write(song: Song, name: str = "test.composer") -> Path:
        path = tmp_path / name
        write_project(Project(song=song, view={}), path)
        return path

    return write


@pytest.fixture
def probe(jack_server, request):
    """A virtual keyboard and a virtual synth on the JACK server, to play in and listen."""
    import re

    from composer.live.probe import JackProbe

    name = "t-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:24]
    with JackProbe(name) as p:
        yield p


GIT_MODELS = (
    "melody-transformer",
    "melody-lstm",
    "melody-markov",
    "harmony-hmm-chorale",
    "harmony-hmm-chords",
)
"""Models in git when the snapshots were taken (later ones, such as the neural
harmonisers, join models/ without changing the pictures)."""


@pytest.fixture
def clone_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder with exactly :data:`GIT_MODELS`, whatever else this machine has
    trained: the footer and the dialogs show what the installed models allow, and the
    snapshots must not change when a new model lands in models/."""
    from composer.services.harmony_models import clear_cache
    from composer.services.models import forget_models

    shipped = Path(__file__).resolve().parents[2] / "models"
    models = tmp_path / "models"
    models.mkdir()
    for name in GIT_MODELS:
        (models / name).symlink_to(shipped / name, target_is_directory=True)
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(models))
    forget_models()
    clear_cache()
    yield models
    forget_models()
    clear_cache()


@pytest.fixture(scope="session")
def _tiny_models_root(tmp_path_factory) -> Path:
    """A models folder with the shipped Markov model and a tiny LSTM melody model trained
    here for a few steps on a small corpus (a clean clone has neither corpus nor LSTM).
    Built once per session; the environment is put back as soon as it is built."""
    import os
    import shutil

    root = tmp_path_factory.mktemp("tui_models")
    saved = {k: os.environ.get(k) for k in ("COMPOSER_CACHE_DIR", "COMPOSER_MODELS_DIR")}
    os.environ["COMPOSER_CACHE_DIR"] = str(root / "cache")
    os.environ["COMPOSER_MODELS_DIR"] = str(root / "models")
    from composer.services.models import forget_models

    forget_models()
    try:
        from composer.services.train import train_task
        from corpora import music21_corpus

        music21_corpus.build(limit=20, processes=2)
        train_task(
            "melody",
            "lstm",
            run_dir=root / "runs",
            out_dir=root / "models" / "melody-lstm",
            max_steps=20,
            model_overrides={
                "n_layer": 1,
                "n_embd": 32,
                "lstm_hidden": 48,
                "block_size": 128,
                "dropout": 0.0,
            },
            train_overrides={
                "batch_size": 4,
                "eval_interval": 10,
                "eval_batches": 1,
                "warmup_steps": 2,
                "learning_rate": 3e-3,
            },
        )
        shipped = Path(__file__).resolve().parents[2] / "models" / "melody-markov"
        shutil.copytree(shipped, root / "models" / "melody-markov")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        forget_models()
    return root


@pytest.fixture
def tiny_lstm_models(_tiny_models_root: Path, monkeypatch: pytest.MonkeyPatch):
    """COMPOSER_MODELS_DIR points at the tiny models for this test only: the tests after
    it (the jam, harmonize) see the shipped models again."""
    from composer.services.harmony_models import clear_cache
    from composer.services.models import forget_models

    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(_tiny_models_root / "cache"))
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(_tiny_models_root / "models"))
    forget_models()
    clear_cache()
    yield _tiny_models_root / "models"
    forget_models()
    clear_cache()
