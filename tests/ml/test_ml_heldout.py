"""Held-out pieces never reach melody training data (token shards or the Markov model)."""

from __future__ import annotations

import json

from corpora.heldout import load_heldout


def test_melody_train_shard_holds_no_heldout_piece(tiny_env):
    from composer.io.tokens import MELODY_PARAMS
    from composer.services.train import shard_dir

    directory = shard_dir("melody", "music21", MELODY_PARAMS)
    heldout = load_heldout()
    forbidden = heldout.test_folk | heldout.valid_folk | heldout.test_chorales | heldout.valid_chorales
    train_ids = {i.split(":", 1)[1] for i in json.loads((directory / "train_ids.json").read_text())}
    assert train_ids and not (train_ids & forbidden)
    test_ids = {i.split(":", 1)[1] for i in json.loads((directory / "test_ids.json").read_text())}
    assert test_ids <= heldout.test_folk | heldout.test_chorales


def test_shipped_melody_models_were_trained_on_this_train_split():
    import hashlib
    from pathlib import Path

    from composer.paths import heldout_file

    expected = hashlib.sha256(heldout_file().read_bytes()).hexdigest()
    cards = sorted((Path(__file__).resolve().parents[2] / "models").glob("melody-*/card.json"))
    assert cards, "melody models ship with the project"
    for path in cards:
        card = json.loads(path.read_text())
        assert card["data"]["trained_on"] == "train split only", path
        assert card["data"]["heldout_file_sha256"] == expected, path
