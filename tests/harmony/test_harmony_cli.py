import json

import pytest

from composer.analysis.chord_labels import chord_events
from composer.cli import main
from composer.core.song import DRUM_CHANNEL, Song, Track
from composer.io.midi_file import read_midi, write_midi
from tests.harmony.builders import CADENCE_SONG, line, melody_song


@pytest.fixture
def tune(tmp_path):
    path = tmp_path / "tune.mid"
    write_midi(melody_song(), path)
    return path


def test_harmonize_writes_each_variation(tune, tmp_path, capsys):
    out = tmp_path / "out.mid"
    assert main(["harmonize", str(tune), "-o", str(out), "--variations", "2", "--seed", "7"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "seed 7" in printed
    for path in (out, tmp_path / "out-2.mid"):
        song = read_midi(path)
        assert [t.name for t in song.tracks] == ["Melody", "Alto", "Tenor", "Bass"]


def test_harmonize_chord_style_writes_symbols_that_read_back(tune, tmp_path, capsys):
    out = tmp_path / "chords.mid"
    assert main(["harmonize", str(tune), "-o", str(out), "--style", "chords", "--variations",
                 "1", "--seed", "1"]) == 0
    chords = next(t for t in read_midi(out).tracks if t.name == "Chords")
    assert chords.notes and all(c is not None for _, c in chord_events(chords))
    assert "; chords " in capsys.readouterr().out


def test_harmonize_to_musicxml(tune, tmp_path):
    out = tmp_path / "out.musicxml"
    assert main(["harmonize", str(tune), "-o", str(out), "--variations", "1"]) == 0
    assert out.read_text().count("<part ") == 4


@pytest.mark.parametrize("args, text", [
    (["--model", "transformer"], "available: hmm"),
    (["--temperature", "-1"], "temperature"),
    (["--track", "0"], "tracks count from 1"),
    (["--track", "5"], "no track 5"),
])
@pytest.mark.usefixtures("hmm_only_models")  # "available: hmm" whatever models/ holds
def test_harmonize_bad_arguments_give_one_line(tune, tmp_path, capsys, args, text):
    assert main(["harmonize", str(tune), "-o", str(tmp_path / "x.mid"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and text in err


def test_harmonize_refuses_an_unknown_style_in_one_line(tune, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["harmonize", str(tune), "-o", str(tmp_path / "x.mid"), "--style", "jazz"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_harmonize_a_file_of_drums_gives_one_line(tmp_path, capsys):
    drums = tmp_path / "drums.mid"
    write_midi(Song(tracks=(Track("Kit", line([36, 38, 36, 38]), channel=DRUM_CHANNEL),)), drums)
    assert main(["harmonize", str(drums), "-o", str(tmp_path / "x.mid")]) == 2
    assert "drum" in capsys.readouterr().err
    assert not (tmp_path / "x.mid").exists()


def test_check_reports_faults_with_their_place(tmp_path, capsys):
    path = tmp_path / "satb.mid"
    write_midi(CADENCE_SONG, path)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "parallel fifths" in out and "| all faults" in out and "ranges: Soprano C4-A5" in out
    assert "bar 1:4  parallel" in out
    assert main(["check", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["parallel_fifths"] == 1 and data["counts"]["parallel_octaves"] == 1
    assert data["chord_changes"] == 4 and data["faults_per_100"] == 50.0
    assert data["faults"][0]["at"] == "1:4"


def test_check_refuses_a_single_melody(tune, capsys):
    assert main(["check", str(tune)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "four" in err


@pytest.mark.usefixtures("hmm_only_models")  # "--models lstm" names a missing model
def test_bench_harmonize_reports_both_figures(capsys):
    assert main(["bench", "harmonize", "--json", "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = report["hmm"]
    assert {"latency_ms_16bars", "fast_path_ms_median", "fast_path_ms_p99",
            "back_to_back_ms_median", "latency_vs_target", "fast_path_vs_target"} <= set(row)
    assert row["notes_16bars"] > 16
    assert main(["bench", "harmonize", "--models", "lstm"]) == 2
