"""Decoding tests run torch on one thread, as the harmony service does (see
composer.ml.harmony_decode.one_thread): small models step faster that way."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def hmm_only_models(tmp_path, monkeypatch):
    """A models folder with only the HMM harmonisers (symlinks to the shipped ones):
    for tests of the HMM's own behaviour and of what a missing model says, whatever
    neural harmonisers models/ holds."""
    from pathlib import Path

    from composer.services.harmony_models import clear_cache

    shipped = Path(__file__).resolve().parents[2] / "models"
    models = tmp_path / "hmm-only-models"
    models.mkdir()
    for name in ("harmony-hmm-chorale", "harmony-hmm-chords"):
        (models / name).symlink_to(shipped / name, target_is_directory=True)
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(models))
    clear_cache()
    yield models
    clear_cache()
