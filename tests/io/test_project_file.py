"""Song <-> dict, and project files: exact round trips, and bad files refused clearly."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from composer.core.serialize import song_from_dict, song_to_dict
from composer.core.song import Note, Song, Track
from composer.errors import InputFileError
from composer.io.project_file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Project,
    project_from_json,
    project_to_json,
    read_project,
    write_project,
)
from composer.io.song_files import load_song

from .song_strategies import songs

EXAMPLES = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@EXAMPLES
@given(songs())
def test_song_to_dict_to_song_is_exact(song):
    data = song_to_dict(song)
    assert song_from_dict(data) == song
    # The dict is plain JSON: it survives a trip through text unchanged.
    assert song_from_dict(json.loads(json.dumps(data))) == song


@settings(EXAMPLES, max_examples=50)
@given(songs())
def test_project_json_round_trip(song):
    project = Project(song=song, view={"cursor_tick": 960, "zoom": 1.5, "track": 0})
    back = project_from_json(project_to_json(project))
    assert back.song == song
    assert back.view == project.view


def _song() -> Song:
    return Song(title="Saved", tracks=(Track("Piano", (Note(pitch=60, start_tick=0,
                                                            duration_ticks=480),)),))


def test_project_file_on_disk(tmp_path):
    path = tmp_path / "tune.composer"
    write_project(Project(song=_song(), view={"zoom": 2}), path)
    assert read_project(path).song == _song()
    assert load_song(path) == _song()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["format"], data["version"]) == (FORMAT_NAME, FORMAT_VERSION)


def _valid() -> dict:
    return json.loads(project_to_json(Project(song=_song())))


def _without(data: dict, *keys: str) -> dict:
    target = data
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return data


def _with(data: dict, value, *keys) -> dict:
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return data


@pytest.mark.parametrize(("data", "problem"), [
    (_with(_valid(), "other-format", "format"), "format"),
    (_without(_valid(), "version"), "version"),
    (_without(_valid(), "song"), "song"),
    (_without(_valid(), "song", "tempos"), "tempos"),
    (_with(_valid(), [], "song", "tempos"), "song/tempos"),
    (_with(_valid(), "many", "song", "tracks"), "song/tracks"),
    (_with(_valid(), 300, "song", "tracks", 0, "program"), "program"),
    (_with(_valid(), 16, "song", "tracks", 0, "channel"), "channel"),
    (_with(_valid(), [[0, 60, 480]], "song", "tracks", 0, "notes"), "notes"),
    (_with(_valid(), [[0, 60, 480, 80.5]], "song", "tracks", 0, "notes"), "notes"),
    (_with(_valid(), [[0, 60, 480, "loud"]], "song", "tracks", 0, "notes"), "notes"),
    (["not", "an", "object"], "top level"),
])
def test_schema_rejects_malformed_projects(data, problem):
    with pytest.raises(InputFileError) as info:
        project_from_json(json.dumps(data), "bad.composer")
    message = info.value.one_line()
    assert message.startswith("bad.composer: not a valid composer project")
    assert problem in message


@pytest.mark.parametrize(("data", "problem"), [
    (_with(_valid(), [[0, 200, 480, 80]], "song", "tracks", 0, "notes"), "pitch 200"),
    (_with(_valid(), [[0, 60, 0, 80]], "song", "tracks", 0, "notes"), "duration_ticks 0"),
    (_with(_valid(), [[480, 500000]], "song", "tempos"), "tick 0"),
    (_with(_valid(), [[0, 3, 5]], "song", "time_signatures"), "power of 2"),
    (_with(_valid(), [[0, 9, "major"]], "song", "keys"), "9 fifths"),
    (_with(_valid(), [[0, 0, "dorian"]], "song", "keys"), "dorian"),
    (_with(_valid(), [[0, "x", "sung"]], "song", "markers"), "sung"),
    (_with(_valid(), [[0, 500000], [0, 400000]], "song", "tempos"), "time order"),
    (_with(_valid(), [[0, 9000]], "song", "tracks", 0, "pitch_bends"), "pitch bend 9000"),
    (_with(_valid(), [[0, 60]], "song", "tracks", 0, "controls"), "invalid song"),
])
def test_invalid_song_values_are_refused(data, problem):
    with pytest.raises(InputFileError) as info:
        project_from_json(json.dumps(data), "bad.composer")
    assert "bad.composer: the project holds an invalid song" in info.value.one_line()
    assert problem in info.value.one_line()


def test_newer_format_is_refused_with_a_hint():
    data = _with(_valid(), FORMAT_VERSION + 1, "version")
    with pytest.raises(InputFileError) as info:
        project_from_json(json.dumps(data), "future.composer")
    assert "newer than this composer reads" in info.value.message
    assert info.value.hint == "update composer to open it"


def test_broken_project_files(tmp_path):
    (tmp_path / "half.composer").write_text('{"format": "composer-project", "vers')
    with pytest.raises(InputFileError, match="half.composer: not a composer project .invalid JSON"):
        read_project(tmp_path / "half.composer")
    (tmp_path / "binary.composer").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputFileError, match="binary.composer: not a composer project"):
        read_project(tmp_path / "binary.composer")
    with pytest.raises(InputFileError, match="no such file"):
        read_project(tmp_path / "absent.composer")
