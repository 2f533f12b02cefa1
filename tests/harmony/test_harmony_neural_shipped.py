"""The shipped neural harmonisers against the HMM, on a few held-out test chorales.

The chorales are parsed from the music21 wheel into a temporary cache (a clean
clone has none); the checkpoints are the ones in models/.
"""

import os

import pytest

from composer.paths import models_dir
from composer.services import harmony_models
from composer.services.harmony_eval import evaluate_chorales

TEST_CHORALES = ("bach/bwv287", "bach/bwv288", "bach/bwv302")
"""Three chorales of heldout.json's test list."""


@pytest.fixture(scope="module")
def test_chorales(tmp_path_factory):
    from corpora import music21_corpus
    from corpora.heldout import load_heldout
    from corpora.store import load_pieces

    assert all(load_heldout().chorale_split(c) == "test" for c in TEST_CHORALES)
    saved = os.environ.get("COMPOSER_CACHE_DIR")
    os.environ["COMPOSER_CACHE_DIR"] = str(tmp_path_factory.mktemp("chorale_cache"))
    try:
        music21_corpus.build(processes=1, only=set(TEST_CHORALES))
        pieces = load_pieces("music21", "chorales", "test")
    finally:
        if saved is None:
            os.environ.pop("COMPOSER_CACHE_DIR", None)
        else:
            os.environ["COMPOSER_CACHE_DIR"] = saved
    assert [p.id for p in pieces] == list(TEST_CHORALES)
    harmony_models.clear_cache()
    return pieces


def _shipped(style: str) -> list[str]:
    """The neural harmonisers whose checkpoints are in models/ for ``style``."""
    return [arch for arch in ("transformer", "lstm")
            if (models_dir() / f"harmony-{style}-{arch}" / "model.pt").exists()]


def test_the_registry_offers_exactly_what_models_holds():
    for style in ("chorale", "chords"):
        assert harmony_models.available_models(style) == [*_shipped(style), "hmm"]


def test_shipped_models_write_clean_voices_and_auto_follows_the_cards(test_chorales):
    """Every shipped chorale model writes Bach-like voices (exact pitches well above
    chance), in range, without parallels and with fewer faults than Bach; the HMM
    stays in range and under Bach's rate. "auto" takes a neural model only where its
    card measured it above the HMM (docs/harmony.md)."""
    from composer.services.harmony_neural import neural_beats_hmm

    shipped = _shipped("chorale")
    rows = evaluate_chorales(test_chorales, [*shipped, "hmm"])
    assert rows["hmm"]["out_of_range"] == 0
    assert rows["hmm"]["faults_per_100"] <= rows["bach"]["faults_per_100"]
    for arch in shipped:
        row = rows[arch]
        assert row["pitch_agreement"] > 0.2 and row["pc_agreement"] > 0.15
        assert row["out_of_range"] == 0 and row["parallels_per_100"] == 0
        assert row["faults_per_100"] <= rows["bach"]["faults_per_100"]
    preferred = [arch for arch in shipped if neural_beats_hmm("chorale", arch)]
    assert harmony_models.best_model("chorale") == (preferred or ["hmm"])[0]


def test_shipped_chord_models_name_fitting_chords_and_auto_follows_the_cards():
    """Every shipped chord model names a chord on every beat of a C-major tune, three
    in four of them chords of C major and at least half holding the melody note of
    their beat (a random triad holds it one time in four); "auto" takes a neural chord
    model only where its card measured it above the HMM on the POP909 test songs."""
    from composer.analysis.beats import beat_grid
    from composer.analysis.chord_labels import chord_events, chords_at_beats
    from composer.core.song import PPQ
    from composer.services.harmonize import harmonize
    from composer.services.harmony_neural import neural_beats_hmm
    from tests.harmony.builders import TUNE, melody_song

    song = melody_song()
    beats = beat_grid(song.time_signatures, 0, len(TUNE) * PPQ)  # one note per beat
    shipped = _shipped("chords")
    for arch in shipped:
        result = harmonize(song, style="chords", model=arch, variations=2, seed=5)
        assert result.model == arch and len(result.variations) == 2
        chords = chords_at_beats(chord_events(result.variations[0][0]), beats)
        assert len(chords) == len(TUNE) and all(c is not None for c in chords)
        diatonic = sum(set(c.pitch_classes) <= {0, 2, 4, 5, 7, 9, 11} for c in chords)
        holds_melody = sum(pitch % 12 in c.pitch_classes
                           for pitch, c in zip(TUNE, chords, strict=True))
        assert diatonic >= 0.75 * len(TUNE) and holds_melody >= 0.5 * len(TUNE), (arch, chords)
    preferred = [arch for arch in shipped if neural_beats_hmm("chords", arch)]
    assert harmony_models.best_model("chords") == (preferred or ["hmm"])[0]
