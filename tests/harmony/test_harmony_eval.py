"""The eval harness on a tiny test set written into a temporary cache."""

import json

import pytest

from composer.cli import main
from composer.core.song import Note, Song, TextEvent, TimeSignature, Track
from composer.io.project_file import read_project
from composer.paths import REPO_ROOT
from composer.services import harmony_models
from composer.services.harmony_eval import ChoraleScore, evaluate_harmony, score_setting
from composer.services.harmony_models import ChoraleVoices, ModelEntry
from corpora import pop909
from corpora.store import Piece, corpus_dir, write_manifest, write_pieces
from tests.harmony.builders import line

REQUIRED = {"pc_agreement", "pitch_agreement", "faults_per_100", "parallels_per_100",
            "out_of_range"}


def demo_chorale() -> Song:
    song = read_project(REPO_ROOT / "composer" / "data" / "demo.composer").song
    return song.with_tracks(song.tracks[:4])


def lead_sheet() -> Song:
    """Eight bars of chord tones over C F G C, twice, with the chords as text events."""
    bars = [(0, (60, 64, 67, 64)), (5, (65, 69, 72, 69)), (7, (67, 71, 74, 71)),
            (0, (72, 67, 64, 60))]
    notes, texts = [], []
    for repeat in range(2):
        for b, (root, pitches) in enumerate(bars):
            start = (repeat * 4 + b) * 1920
            texts.append(TextEvent(start, {0: "C", 5: "F", 7: "G"}[root]))
            notes += [Note(pitch=p, start_tick=start + i * 480, duration_ticks=480)
                      for i, p in enumerate(pitches)]
    return Song(tracks=(Track("Melody", tuple(notes)), Track("Chords", texts=tuple(texts))),
                time_signatures=(TimeSignature(0, 4, 4),))


@pytest.fixture
def test_sets(tmp_path, monkeypatch, hmm_only_models):
    """One test chorale and one POP909 song, and only the HMMs installed (the table's
    rows are the installed models: the shipped neural ones are not what is tested)."""
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path))
    for name in ("music21", pop909.CORPUS_NAME):
        corpus_dir(name).mkdir(parents=True)
    write_pieces(corpus_dir("music21") / "chorales_test.jsonl.gz",
                 [Piece("bach/bwv80.8", "bach", demo_chorale())])
    write_pieces(corpus_dir(pop909.CORPUS_NAME) / "songs_test.jsonl.gz",
                 [Piece("999", "pop909", lead_sheet())])
    write_manifest(pop909.CORPUS_NAME, {"format_version": pop909.FORMAT_VERSION})


class OctavesBelow:
    """A deliberately bad chorale model: the soprano doubled in octaves (all parallels)."""

    def harmonize(self, melody, variation, rng, temperature):
        def moved(shift):
            return [Note(pitch=n.pitch + shift, start_tick=n.start_tick,
                         duration_ticks=n.duration_ticks) for n in melody.notes]
        return ChoraleVoices(moved(-12), moved(-17), moved(-24))

    def atb_bits(self, chorale):
        return (12.0, 6)


@pytest.fixture
def octaves_model():
    harmony_models.register(ModelEntry(
        name="octaves", styles=("chorale",), description="test double",
        available=lambda style: style == "chorale", load=lambda style: OctavesBelow()))
    yield "octaves"
    harmony_models.unregister("octaves")


def test_the_table_has_the_issue_shape(test_sets):
    table = evaluate_harmony()
    assert list(table) == ["hmm", "bach", "chords"]
    assert set(table["hmm"]) >= REQUIRED and "atb_bits" not in table["hmm"]
    assert set(table["bach"]) >= REQUIRED and "atb_bits" not in table["bach"]
    bach = table["bach"]
    assert bach["pc_agreement"] == 1.0 and bach["pitch_agreement"] == 1.0
    assert bach["frame_error"] == 0.0 and bach["chorales"] == 1
    hmm = table["hmm"]
    for key in ("pc_agreement", "pitch_agreement", "frame_error"):
        assert 0.0 <= hmm[key] <= 1.0
    assert hmm["parallels_per_100"] == 0.0 and hmm["out_of_range"] == 0
    assert hmm["frame_error"] > 0.3  # the HMM's block chords never match Bach's moving parts
    chords = table["chords"]
    assert list(chords) == ["hmm"] and set(chords["hmm"]) >= {"chord_accuracy", "root_accuracy"}
    assert chords["hmm"]["beats"] == 32
    assert chords["hmm"]["chord_accuracy"] >= 0.5  # plain chord tones over I IV V I


def test_a_registered_model_gets_its_row(test_sets, octaves_model):
    table = evaluate_harmony()
    assert list(table) == ["hmm", "octaves", "bach", "chords"]
    row = table["octaves"]
    assert row["atb_bits"] == 2.0
    assert row["parallels_per_100"] > 50
    assert row["pitch_agreement"] < table["bach"]["pitch_agreement"]
    assert "octaves" not in table["chords"]
    only = evaluate_harmony(models=["octaves"])
    assert list(only) == ["octaves", "bach", "chords"] and only["chords"] == {}


def test_an_unknown_model_is_refused(test_sets):
    from composer.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="no such harmony model: lstm"):
        evaluate_harmony(models=["lstm"])


def test_scoring_a_setting_against_itself_and_a_semitone_off():
    bach = [line([72, 74]), line([67, 67]), line([64, 65]), line([48, 47])]
    same = ChoraleScore()
    score_setting(same, bach, bach[1:], (TimeSignature(0, 4, 4),))
    assert same.pc_hits == same.beats == 2 and same.frame_errors == 0 and same.frames == 8
    off = ChoraleScore()
    shifted = [line([p + 1 for p in (n.pitch for n in v)]) for v in bach[1:]]
    score_setting(off, bach, shifted, (TimeSignature(0, 4, 4),))
    assert off.voice_hits == [0, 0, 0] and off.frame_errors == off.frames == 8
    assert off.row()["pitch_agreement"] == 0.0


def test_the_cli_prints_the_table_and_the_json(test_sets, capsys):
    assert main(["eval", "harmony"]) == 0
    out = capsys.readouterr().out
    assert "| hmm" in out and "| bach" in out and "chord accuracy" in out
    assert main(["eval", "harmony", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"hmm", "bach", "chords"}


def test_the_cli_says_when_the_corpus_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path))
    assert main(["eval", "harmony"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "composer corpus build" in err
