"""`composer info`, `export` and `corpus build` as a user runs them: a real
process, one line and exit code 2 for every bad file, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from composer.core.song import KeySignature, Note, Song, TempoChange, TimeSignature, Track
from composer.io.midi_file import read_midi, write_midi
from composer.io.song_files import load_song

COMPOSER = Path(sys.executable).parent / "composer"


def run(*args: str, tmp_path: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMPOSER_CACHE_DIR=str(tmp_path / "cache"),
               COMPOSER_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run([str(COMPOSER), *args], capture_output=True, text=True, env=env,
                          cwd=cwd or tmp_path, timeout=300, check=False)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("composer: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0]
    return lines[0]


def song() -> Song:
    return Song(
        title="Little Tune",
        tracks=(Track("Flute", (Note(pitch=72, start_tick=0, duration_ticks=480),
                                Note(pitch=74, start_tick=480, duration_ticks=480),
                                Note(pitch=76, start_tick=960, duration_ticks=960)), program=73),
                Track("Kit", (Note(pitch=36, start_tick=0, duration_ticks=120),), channel=9)),
        tempos=(TempoChange(0, 600_000),),
        time_signatures=(TimeSignature(0, 3, 4),),
        keys=(KeySignature(0, 2),),
    )


BAD_FILES = {
    "empty.mid": b"",
    "text.mid": b"this is a shopping list, not music\n",
    "truncated.mid": b"MThd\x00\x00\x00\x06\x00",
    "header-only.mid": b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0",
    "zero-division.mid": b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x00"
                         b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
    "renamed.mid": b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64),
    "broken.musicxml": b"<?xml version='1.0'?><score-partwise><part-list>",
    "notes-missing.abc": b"X:1\nT:Nothing\nK:C\n",
    "bad.composer": b'{"format": "composer-project", "version": 1}',
    "half.composer": b'{"format": "composer-pro',
    "song.wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "noext": b"MT",
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    for name, data in BAD_FILES.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_info_on_a_bad_file_prints_one_line_naming_it(bad_files, name, tmp_path):
    one_line_error(run("info", str(bad_files / name), tmp_path=tmp_path), name)


@pytest.mark.parametrize("name", ["truncated.mid", "text.mid", "broken.musicxml", "half.composer"])
def test_export_of_a_bad_file_writes_nothing(bad_files, name, tmp_path):
    out = tmp_path / "out.mid"
    one_line_error(run("export", str(bad_files / name), "-o", str(out), tmp_path=tmp_path), name)
    assert not out.exists()


def test_missing_file_folder_and_bad_output(tmp_path):
    good = tmp_path / "good.mid"
    write_midi(song(), good)
    one_line_error(run("info", "absent.mid", tmp_path=tmp_path), "absent.mid", "no such file")
    one_line_error(run("info", str(tmp_path), tmp_path=tmp_path), "folder")
    one_line_error(run("export", str(good), "-o", str(tmp_path / "nowhere" / "x.mid"),
                       tmp_path=tmp_path), "does not exist")
    one_line_error(run("export", str(good), "-o", str(tmp_path / "x.pdf"), tmp_path=tmp_path),
                   "x.pdf", "unknown output type")


def test_usage_errors_are_one_line_too(tmp_path):
    for args in (["frobnicate"], ["info"], ["export", "a.mid"], ["corpus", "build", "--processes",
                                                                  "many"]):
        result = run(*args, tmp_path=tmp_path)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_info_describes_a_song(tmp_path):
    path = tmp_path / "tune.mid"
    write_midi(song(), path)
    result = run("info", str(path), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "MIDI format 1, 480 ticks per quarter, 3 tracks" in text
    assert "title:  Little Tune" in text
    assert "100 BPM" in text and "3/4" in text and "D major" in text
    assert "| Flute" in text and "Kit [drums]" in text
    data = json.loads(run("info", str(path), "--json", tmp_path=tmp_path).stdout)
    assert data["notes"] == 4 and data["bars"] == 2 and data["meters"] == ["3/4"]
    assert [t["name"] for t in data["tracks"]] == ["Flute", "Kit"]
    assert data["tracks"][1]["channel"] == 10 and data["tracks"][1]["is_drum"]
    assert data["seconds"] == pytest.approx(2.4)  # 4 beats at 100 BPM


def test_export_midi_and_musicxml(tmp_path):
    source = tmp_path / "tune.mid"
    write_midi(song(), source)
    for out in ("copy.mid", "score.musicxml"):
        result = run("export", str(source), "-o", out, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"wrote {out}"
    assert read_midi(tmp_path / "copy.mid") == song()
    score = load_song(tmp_path / "score.musicxml")
    assert [(n.start_tick, n.pitch) for n in score.tracks[0].notes] == [
        (n.start_tick, n.pitch) for n in song().tracks[0].notes]
    assert (tmp_path / "copy.mid").stat().st_mode & 0o044 == 0o044


def test_export_from_abc(tmp_path):
    (tmp_path / "tune.abc").write_text("X:1\nT:Scale\nM:4/4\nL:1/4\nK:G\nGABc|d4|]\n")
    result = run("export", "tune.abc", "-o", "tune.mid", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    back = read_midi(tmp_path / "tune.mid")
    assert [n.pitch for n in back.tracks[0].notes] == [67, 69, 71, 72, 74]
    assert back.keys == (KeySignature(0, 1),) and back.title == "Scale"


def test_corpus_build_from_a_folder_skips_and_lists_broken_files(bad_files, tmp_path):
    folder = tmp_path / "my midi"
    (folder / "set 2").mkdir(parents=True)
    for i in range(6):
        tune = Song(tracks=(Track("Lead", tuple(Note(pitch=60 + i + k, start_tick=480 * k,
                                                     duration_ticks=480) for k in range(8))),))
        write_midi(tune, folder / ("set 2" if i % 2 else ".") / f"tune{i}.mid")
    write_midi(song(), folder / "again.MID")
    write_midi(song(), folder / "set 2" / "same notes.midi")  # a duplicate under another name
    for name in ("empty.mid", "text.mid", "truncated.mid", "header-only.mid"):
        (folder / name).write_bytes(BAD_FILES[name])
    (folder / "notes.txt").write_text("not looked at")
    result = run("corpus", "build", "--source", str(folder), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "4 skipped" in out
    for name, reason in (("empty.mid", "the file is empty"), ("text.mid", "not a MIDI file"),
                         ("truncated.mid", "truncated"), ("header-only.mid", "no tracks")):
        assert any(line.strip().startswith(f"skipped {name}: ") and reason in line
                   for line in out.splitlines()), out
    manifest = json.loads(run("corpus", "build", "--source", str(folder), "--json",
                              tmp_path=tmp_path).stdout)
    assert sum(manifest["counts"]["midi"].values()) == 7
    assert manifest["files"] == 12
    assert manifest["duplicates"] == [{"file": "set 2/same notes.midi", "same_as": "again.MID"}]
    assert [s["file"] for s in manifest["skipped"]] == [
        "empty.mid", "header-only.mid", "text.mid", "truncated.mid"]


def test_corpus_build_from_a_missing_folder(tmp_path):
    one_line_error(run("corpus", "build", "--source", str(tmp_path / "nothing here"),
                       tmp_path=tmp_path), "nothing here")
    (tmp_path / "empty").mkdir()
    one_line_error(run("corpus", "build", "--source", str(tmp_path / "empty"), tmp_path=tmp_path),
                   "no MIDI files")
