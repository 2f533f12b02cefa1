"""The project session: undo history, files, autosave, crash recovery, last project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from composer.core.song import Note, Song, Track
from composer.errors import InputFileError, InvalidArgumentError, OutputFileError
from composer.services import editing
from composer.services.project import (
    History,
    ProjectSession,
    demo_song,
    find_recoveries,
    last_project,
    record_crash,
    remember_last_project,
    retire_recovery,
    session_from_recovery,
    startup_session,
)


def melody(*pitches: int) -> Song:
    notes = tuple(
        Note(pitch=p, start_tick=i * 480, duration_ticks=480) for i, p in enumerate(pitches)
    )
    return Song(tracks=(Track(name="Melody", notes=notes),), title="tune")


def test_history_undo_redo_is_unlimited_and_drops_the_redo_branch():
    song = melody(60)
    history = History(song, "Open")
    states = [song]
    for i in range(500):
        states.append(editing.insert_note(states[-1], 0, 62 + i % 20, 480 * (i + 1), 240))
        assert history.push(states[-1], f"Insert {i}")
    assert len(history) == 501
    for i in reversed(range(500)):
        assert history.undo() == f"Insert {i}"
        assert history.song == states[i]
    assert history.undo() is None and not history.can_undo
    assert history.redo() == "Insert 0"
    assert history.song == states[1]
    branch = editing.delete_notes(history.song, 0, list(history.song.tracks[0].notes))
    history.push(branch, "Delete")
    assert not history.can_redo
    assert history.descriptions() == ["Open", "Insert 0", "Delete"]


def test_history_ignores_an_edit_that_changes_nothing_and_tracks_identity_by_serial():
    song = melody(60, 62)
    history = History(song)
    assert not history.push(song, "Nothing")
    first = history.serial
    history.push(melody(60, 64), "Change")
    assert history.serial != first
    history.undo()
    assert history.serial == first


def test_session_dirty_follows_saves_and_undo(tmp_path: Path):
    session = ProjectSession(melody(60, 62), state_dir=tmp_path)
    assert not session.dirty
    session.apply(melody(60, 64), "Edit")
    assert session.dirty
    with pytest.raises(InvalidArgumentError):
        session.save()
    saved = session.save_as(tmp_path / "song")
    assert saved.name == "song.composer" and not session.dirty
    session.undo()
    assert session.dirty
    session.redo()
    assert not session.dirty
    reopened = ProjectSession.open(saved, tmp_path)
    assert reopened.song == melody(60, 64)
    assert last_project(tmp_path) == saved


def test_save_as_refuses_midi_names(tmp_path: Path):
    session = ProjectSession(melody(60), state_dir=tmp_path)
    with pytest.raises(InvalidArgumentError) as caught:
        session.save_as(tmp_path / "song.mid")
    assert "Export" in caught.value.one_line()


def test_open_imports_a_midi_file_as_an_untitled_project(tmp_path: Path):
    from composer.io.midi_file import write_midi

    write_midi(melody(60, 67), tmp_path / "tune.mid")
    session = ProjectSession.open(tmp_path / "tune.mid", tmp_path)
    assert session.path is None and session.name == "tune.mid"
    assert [n.pitch for n in session.song.tracks[0].notes] == [60, 67]
    assert not session.dirty


@pytest.mark.parametrize("content", [b"MThd\x00\x00\x00\x06garbage", b"", b"{not json"])
def test_open_a_corrupt_file_is_a_clear_error(tmp_path: Path, content: bytes):
    path = tmp_path / ("bad.composer" if content.startswith(b"{") else "bad.mid")
    path.write_bytes(content)
    with pytest.raises(InputFileError):
        ProjectSession.open(path, tmp_path)


def test_autosave_writes_only_unsaved_work_and_recovery_finds_it_after_the_session_ends(
    tmp_path: Path,
):
    session = ProjectSession(melody(60), state_dir=tmp_path)
    assert not session.autosave()  # nothing changed
    session.apply(melody(60, 65), "Insert F4")
    assert session.autosave()
    assert session.recovery_file.exists()
    assert not session.autosave()  # already written
    assert find_recoveries(tmp_path) == []  # the live session holds its lock
    session.release()  # as if the process died: the lock goes, the file stays
    found = find_recoveries(tmp_path)
    assert len(found) == 1
    assert found[0].song == melody(60, 65)
    assert found[0].last_edit == "Insert F4"
    assert not found[0].clean_exit


def test_recovery_survives_a_killed_process(tmp_path: Path):
    script = textwrap.dedent(f"""
        import os, signal
        from composer.core.song import Note, Song, Track
        from composer.services.project import ProjectSession
        from pathlib import Path
        note = Note(pitch=70, start_tick=0, duration_ticks=480)
        song = Song(tracks=(Track(name="Lead", notes=(note,)),))
        session = ProjectSession(Song(), state_dir=Path({str(tmp_path)!r}))
        session.apply(song, "Insert A#4")
        session.autosave()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == -9
    found = find_recoveries(tmp_path)
    assert len(found) == 1 and found[0].song.tracks[0].notes[0].pitch == 70
    session = session_from_recovery(found[0], tmp_path)
    assert session.dirty and session.song == found[0].song
    assert find_recoveries(tmp_path) == []  # adopted: this session's autosaves replace it


def test_close_keeps_unsaved_work_as_a_clean_exit_and_removes_it_once_saved(tmp_path: Path):
    session = ProjectSession(melody(60), state_dir=tmp_path)
    session.apply(melody(62), "Edit")
    assert session.close()
    [recovery] = find_recoveries(tmp_path)
    assert recovery.clean_exit and "quit with unsaved changes" in recovery.describe()
    retire_recovery(recovery, tmp_path)
    assert find_recoveries(tmp_path) == []
    assert list((tmp_path / "recovery" / "discarded").glob("*.json"))

    saved = ProjectSession(melody(60), state_dir=tmp_path)
    saved.apply(melody(64), "Edit")
    saved.autosave()
    saved.save_as(tmp_path / "kept.composer")
    assert saved.close()
    assert find_recoveries(tmp_path) == []


def test_close_reports_when_the_work_cannot_be_kept(tmp_path: Path):
    blocker = tmp_path / "blocked-state"
    blocker.write_text("a file where the state folder should be")
    session = ProjectSession(melody(60), state_dir=blocker)
    session.apply(melody(61), "Edit")
    with pytest.raises(OutputFileError):
        session.autosave()
    assert session.autosave_error
    assert not session.close()


def test_unreadable_recovery_file_is_moved_aside(tmp_path: Path):
    directory = tmp_path / "recovery"
    directory.mkdir()
    (directory / "session-1-2.json").write_text("{broken")
    assert find_recoveries(tmp_path) == []
    assert (directory / "session-1-2.unreadable").exists()


def test_startup_prefers_the_last_project_and_falls_back_to_the_demo(tmp_path: Path):
    first = startup_session(state_dir=tmp_path)
    assert first.session.song == demo_song() and not first.session.dirty
    assert any("demo" in m for m in first.messages)
    project = tmp_path / "mine.composer"
    ProjectSession(melody(72), state_dir=tmp_path).save_as(project)
    again = startup_session(state_dir=tmp_path)
    assert again.session.path == project.resolve()
    project.write_text(json.dumps({"format": "composer-project", "version": 1}))
    broken = startup_session(state_dir=tmp_path)
    assert broken.session.song == demo_song()
    assert any("could not be opened" in m for m in broken.messages)


def test_remember_last_project_skips_files_that_are_gone(tmp_path: Path):
    gone = tmp_path / "gone.composer"
    remember_last_project(gone, tmp_path)
    assert last_project(tmp_path) is None


def test_demo_is_a_public_domain_chorale_with_four_parts():
    song = demo_song()
    assert [t.name for t in song.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert "BWV 80.8" in song.title and song.keys


def test_record_crash_appends_a_traceback(tmp_path: Path):
    try:
        raise RuntimeError("boom")
    except RuntimeError as err:
        where = record_crash(err, tmp_path)
    text = Path(where).read_text()
    assert "RuntimeError: boom" in text and "Traceback" in text
    assert os.path.dirname(where) == str(tmp_path)
