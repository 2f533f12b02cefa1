"""The open project: undo history, open/save, autosave and crash recovery.

Every edit pushes a new immutable :class:`Song` on a :class:`History` with a
description ("Insert C4", "Accept continuation 2/4"), so undo and redo are
unlimited and cheap: unchanged tracks and notes are shared between steps.

While the editor runs, :meth:`ProjectSession.autosave` writes the current song
to a recovery file under ``state_dir()/recovery`` every few seconds (atomically,
so a kill mid-write leaves the previous one). Each running session holds a lock
on its own recovery file; at the next start, :func:`find_recoveries` returns the
files of sessions that are gone, whether they crashed, were killed, or quit with
unsaved work, and the editor offers to restore them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from composer.core.song import Song
from composer.errors import InputFileError, InvalidArgumentError, OutputFileError
from composer.paths import state_dir as default_state_dir

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".composer"
PROJECT_SUFFIXES = (PROJECT_SUFFIX, ".json")
RECOVERY_FORMAT = "composer-recovery"
RECOVERY_VERSION = 1
KEEP_DISCARDED = 5


@dataclass(frozen=True)
class Step:
    """One state on the undo stack and the edit that produced it."""

    song: Song
    description: str
    serial: int


class History:
    """Unlimited undo/redo over immutable songs.

    ``serial`` identifies the current state: it changes with every edit, undo
    and redo, and comes back when undo returns to an earlier state, which is how
    the session knows whether the song differs from what was saved.
    """

    def __init__(self, song: Song, description: str = "Open") -> None:
        self._next_serial = 1
        self._steps = [Step(song, description, 0)]
        self._index = 0

    @property
    def song(self) -> Song:
        return self._steps[self._index].song

    @property
    def serial(self) -> int:
        return self._steps[self._index].serial

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index + 1 < len(self._steps)

    @property
    def undo_description(self) -> str | None:
        return self._steps[self._index].description if self.can_undo else None

    @property
    def redo_description(self) -> str | None:
        return self._steps[self._index + 1].description if self.can_redo else None

    @property
    def position(self) -> int:
        """How many edits are applied (0 is the opened song)."""
        return self._index

    def __len__(self) -> int:
        return len(self._steps)

    def descriptions(self) -> list[str]:
        return [s.description for s in self._steps]

    def push(self, song: Song, description: str) -> bool:
        """Make ``song`` the current state; the redo branch is dropped. False if nothing changed."""
        if song == self.song:
            return False
        del self._steps[self._index + 1 :]
        self._steps.append(Step(song, description, self._next_serial))
        self._next_serial += 1
        self._index += 1
        return True

    def undo(self) -> str | None:
        """Step back; returns the description of the edit undone, or None at the start."""
        if not self.can_undo:
            return None
        description = self._steps[self._index].description
        self._index -= 1
        return description

    def redo(self) -> str | None:
        if not self.can_redo:
            return None
        self._index += 1
        return self._steps[self._index].description


@dataclass(frozen=True)
class RecoveryState:
    """A snapshot of the session for the recovery file."""

    song: Song
    view: dict[str, Any]
    serial: int
    project_path: Path | None
    source: Path | None
    clean_exit: bool
    last_edit: str

    def to_json(self) -> str:
        from composer.core.serialize import song_to_dict

        return json.dumps(
            {
                "format": RECOVERY_FORMAT,
                "version": RECOVERY_VERSION,
                "project_path": str(self.project_path) if self.project_path else None,
                "source": str(self.source) if self.source else None,
                "written_at": time.time(),
                "clean_exit": self.clean_exit,
                "last_edit": self.last_edit,
                "view": self.view,
                "song": song_to_dict(self.song),
            },
            separators=(",", ":"),
        )


@dataclass
class Recovery:
    """Unsaved work a previous session left behind."""

    path: Path
    song: Song
    view: dict[str, Any]
    project_path: Path | None
    written_at: float
    clean_exit: bool
    last_edit: str

    def describe(self) -> str:
        name = self.project_path.name if self.project_path else "an untitled project"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.written_at))
        how = (
            "you quit with unsaved changes"
            if self.clean_exit
            else "composer did not close properly"
        )
        return f"{name}, saved for recovery at {when} ({how}); last edit: {self.last_edit}"


class ProjectSession:
    """The project being edited: its history, where it lives, and its safety net."""

    def __init__(
        self,
        song: Song,
        path: Path | None = None,
        view: dict[str, Any] | None = None,
        state_dir: Path | None = None,
        source: Path | None = None,
        description: str = "Open",
    ) -> None:
        self.history = History(song, description)
        self.path = path
        self.source = source
        self.view: dict[str, Any] = dict(view or {})
        # What was opened (a project, an imported file, the demo) counts as saved
        # until it is edited; recovered work is marked unsaved by its caller.
        self._saved_serial: int | None = self.history.serial
        self._state_dir = state_dir
        self._autosaved_serial: int | None = self.history.serial
        self._recovery_id = f"{os.getpid()}-{time.time_ns()}"
        self._lock_handle: IO[str] | None = None
        self.autosave_error: str | None = None

    # ----------------------------------------------------------- state

    @property
    def song(self) -> Song:
        return self.history.song

    @property
    def dirty(self) -> bool:
        """True when the song differs from the project file (or was never saved)."""
        return self._saved_serial != self.history.serial

    @property
    def name(self) -> str:
        if self.path is not None:
            return self.path.name
        if self.source is not None:
            return self.source.name
        return self.song.title or "untitled"

    def apply(self, song: Song, description: str) -> bool:
        """Record an edit; returns False when ``song`` is the current song already."""
        return self.history.push(song, description)

    def undo(self) -> str | None:
        return self.history.undo()

    def redo(self) -> str | None:
        return self.history.redo()

    def mark_unsaved(self) -> None:
        """Treat the current song as not saved (after restoring recovered work)."""
        self._saved_serial = None
        self._autosaved_serial = None

    # ----------------------------------------------------------- files

    @staticmethod
    def open(path: str | Path, state_dir: Path | None = None) -> ProjectSession:
        """Open a project file, or import any song file as a new untitled project."""
        path = Path(path).expanduser()
        if path.suffix.lower() in PROJECT_SUFFIXES:
            from composer.io.project_file import read_project

            project = read_project(path)
            return ProjectSession(
                project.song, path=path.resolve(), view=project.view, state_dir=state_dir
            )
        from composer.io.song_files import load_song

        song = load_song(path)
        if not song.note_count:
            raise InputFileError(
                f"{path.name}: no notes could be read from this file",
                "it may be damaged, or hold only tempo and meter",
            )
        if not song.title:
            from dataclasses import replace

            song = replace(song, title=path.stem)
        return ProjectSession(
            song, source=path.resolve(), state_dir=state_dir, description=f"Import {path.name}"
        )

    def save(self) -> Path:
        """Write the project file; raises InvalidArgumentError when it has no file yet."""
        if self.path is None:
            raise InvalidArgumentError("this project has no file yet", "use Save as")
        return self.save_as(self.path)

    def save_as(self, path: str | Path) -> Path:
        """Write the project to ``path`` (``.composer``) atomically; it becomes the project file."""
        from composer.io.project_file import Project, write_project

        path = Path(path).expanduser()
        if path.suffix.lower() not in PROJECT_SUFFIXES:
            if path.suffix.lower() in (".mid", ".midi", ".musicxml", ".xml"):
                raise InvalidArgumentError(
                    f"{path.name}: a project is saved as {PROJECT_SUFFIX}",
                    "use Export for MIDI or MusicXML",
                )
            path = path.with_name(path.name + PROJECT_SUFFIX)
        if path.is_dir():
            raise OutputFileError(f"{path}: is a folder")
        serial = self.history.serial
        write_project(Project(song=self.song, view=self.view), path)
        self.path = path.resolve()
        self._saved_serial = serial
        remember_last_project(self.path, self._state_dir)
        return self.path

    # ---------------------------------------------------- autosave

    def _recovery_dir(self) -> Path:
        return (self._state_dir or default_state_dir()) / "recovery"

    @property
    def recovery_file(self) -> Path:
        return self._recovery_dir() / f"session-{self._recovery_id}.json"

    def _hold_lock(self) -> None:
        if self._lock_handle is not None:
            return
        directory = self._recovery_dir()
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / f"session-{self._recovery_id}.lock", "w")  # noqa: SIM115
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock (not POSIX): the lock file's presence is the lock
            pass
        self._lock_handle = handle

    def needs_autosave(self) -> bool:
        return self._autosaved_serial != self.history.serial

    def capture(self, clean_exit: bool = False) -> RecoveryState:
        """What the recovery file would hold now. Cheap, so the UI thread can take it
        and hand it to a worker thread for :meth:`write_recovery`."""
        return RecoveryState(
            song=self.song,
            view=dict(self.view),
            serial=self.history.serial,
            project_path=self.path,
            source=self.source,
            clean_exit=clean_exit,
            last_edit=self.history.descriptions()[self.history.position],
        )

    def autosave(self, force: bool = False, clean_exit: bool = False) -> bool:
        """Write the recovery file if the song changed since the last autosave.

        Returns True when a file was written. When the song is saved, the
        recovery file is removed instead. A failure (full disk) is kept in
        ``autosave_error`` and raised as OutputFileError.
        """
        if not (force or self.needs_autosave()):
            return False
        if not self.dirty:
            # The project file on disk is the current song: nothing to recover.
            self.discard_recovery()
            self._autosaved_serial = self.history.serial
            return False
        self.write_recovery(self.capture(clean_exit))
        return True

    def write_recovery(self, state: RecoveryState) -> None:
        """Write a captured state atomically (safe to call from a worker thread)."""
        from composer.io.atomic import atomic_write_text

        try:
            self._hold_lock()
            atomic_write_text(self.recovery_file, state.to_json())
        except OSError as err:
            self.autosave_error = f"autosave failed: {err.strerror or err}"
            raise OutputFileError(
                f"autosave to {self._recovery_dir()} failed ({err.strerror or err})",
                "save the project somewhere else",
            ) from err
        except OutputFileError as err:
            self.autosave_error = err.message
            raise
        self.autosave_error = None
        self._autosaved_serial = state.serial

    def discard_recovery(self) -> None:
        try:
            self.recovery_file.unlink(missing_ok=True)
        except OSError as err:
            log.warning("cannot remove %s: %s", self.recovery_file, err)

    def close(self) -> bool:
        """End the session: keep unsaved work for the next start, or clean up.

        Returns True when the work is safe (saved, or kept in a recovery file);
        False when it could not be kept, which is when the editor must ask.
        """
        if not self.can_close_safely():
            return False
        if not self.dirty:
            self.discard_recovery()
        if self.path is not None:
            remember_last_project(self.path, self._state_dir)
        elif self.source is not None:
            remember_last_project(self.source, self._state_dir)
        self.release()
        return True

    def can_close_safely(self) -> bool:
        """Would quitting now keep everything? (Saved, or a recovery file can be written.)"""
        if not self.dirty:
            return True
        try:
            self.write_recovery(self.capture(clean_exit=True))
        except OutputFileError:
            return False
        return True

    def release(self) -> None:
        """Drop this session's lock (the recovery file, if any, stays for the next start)."""
        if self._lock_handle is None:
            return
        lock_path = Path(self._lock_handle.name)
        self._lock_handle.close()
        self._lock_handle = None
        with contextlib.suppress(OSError):
            lock_path.unlink(missing_ok=True)

    def adopt(self, recovery: Recovery) -> None:
        """Take over a recovered file: this session's own recovery file replaces it.

        The old file goes only once the new one is written, so a crash in between
        still finds the work.
        """
        try:
            self.write_recovery(self.capture())
        except OutputFileError:
            log.warning("kept %s: this session cannot write its own recovery file", recovery.path)
            return
        retire_recovery(recovery, self._state_dir, keep=False)


# ------------------------------------------------------------ recovery


def _is_locked(lock_path: Path) -> bool:
    """True when a live session holds ``lock_path``."""
    if not lock_path.exists():
        return False
    try:
        import fcntl
    except ImportError:
        return True
    try:
        with open(lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def find_recoveries(state_dir: Path | None = None) -> list[Recovery]:
    """Recovery files left by sessions that are no longer running, newest first.

    A file that cannot be read is moved aside (``*.unreadable``) and skipped, so
    it never stops the editor from starting.
    """
    from composer.core.serialize import song_from_dict

    directory = (state_dir or default_state_dir()) / "recovery"
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob("session-*.json"):
        if _is_locked(path.with_suffix(".lock")):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != RECOVERY_FORMAT or int(data["version"]) > RECOVERY_VERSION:
                raise ValueError("not a recovery file of this version")
            found.append(
                Recovery(
                    path=path,
                    song=song_from_dict(data["song"]),
                    view=dict(data.get("view") or {}),
                    project_path=Path(data["project_path"]) if data.get("project_path") else None,
                    written_at=float(data["written_at"]),
                    clean_exit=bool(data.get("clean_exit")),
                    last_edit=str(data.get("last_edit", "")),
                )
            )
        except (OSError, ValueError, TypeError, KeyError) as err:
            log.warning("recovery file %s is unreadable (%s); moved aside", path, err)
            with contextlib.suppress(OSError):
                path.rename(path.with_suffix(".unreadable"))
        lock = path.with_suffix(".lock")
        with contextlib.suppress(OSError):
            lock.unlink(missing_ok=True)
    found.sort(key=lambda r: r.written_at, reverse=True)
    return found


def retire_recovery(recovery: Recovery, state_dir: Path | None = None, keep: bool = True) -> None:
    """Move a recovery file out of the way once the user has decided on it.

    With ``keep`` (the user chose to discard it) the file goes to
    ``recovery/discarded``, where the newest few are kept, in case of a wrong click.
    """
    directory = (state_dir or default_state_dir()) / "recovery" / "discarded"
    try:
        if keep:
            directory.mkdir(parents=True, exist_ok=True)
            recovery.path.replace(directory / recovery.path.name)
            old = sorted(directory.glob("session-*.json"), key=lambda p: p.stat().st_mtime)
            for stale in old[:-KEEP_DISCARDED]:
                stale.unlink(missing_ok=True)
        else:
            recovery.path.unlink(missing_ok=True)
    except OSError as err:
        log.warning("cannot retire recovery file %s: %s", recovery.path, err)


def session_from_recovery(recovery: Recovery, state_dir: Path | None = None) -> ProjectSession:
    """A session holding recovered work, marked unsaved, attached to its project file if any."""
    session = ProjectSession(
        recovery.song,
        path=recovery.project_path,
        view=recovery.view,
        state_dir=state_dir,
        description="Recovered work",
    )
    session.mark_unsaved()
    session.adopt(recovery)
    return session


# ------------------------------------------------------- last project


def _last_file(state_dir: Path | None) -> Path:
    return (state_dir or default_state_dir()) / "last_project.json"


def remember_last_project(path: Path, state_dir: Path | None = None) -> None:
    """Note which file to reopen at the next start (failures are only logged)."""
    from composer.io.atomic import atomic_write_text

    target = _last_file(state_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps({"path": str(path)}))
    except (OSError, OutputFileError) as err:
        log.warning("cannot remember the last project: %s", err)


def last_project(state_dir: Path | None = None) -> Path | None:
    """The file opened or saved last, if it still exists."""
    try:
        data = json.loads(_last_file(state_dir).read_text(encoding="utf-8"))
        path = Path(data["path"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return path if path.is_file() else None


# ------------------------------------------------------- crash log


def record_crash(error: BaseException, state_dir: Path | None = None) -> str:
    """Append ``error``'s traceback to ``crash.log``; returns where it went, for the message."""
    import traceback

    directory = state_dir or default_state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "crash.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} editor\n")
            handle.write("".join(traceback.format_exception(error)))
        return str(path)
    except OSError:
        log.exception("internal error (the crash log could not be written)")
        return "the log (crash.log could not be written)"


# ------------------------------------------------------------- demo


def demo_song() -> Song:
    """The bundled demo tune (a public-domain melody with parts; see composer/data/README)."""
    from composer.io.project_file import project_from_json

    demo = Path(__file__).resolve().parent.parent / "data" / "demo.composer"
    try:
        return project_from_json(demo.read_text(encoding="utf-8"), demo.name).song
    except OSError as err:
        raise InputFileError(
            f"the bundled demo song is missing ({demo})", "reinstall composer"
        ) from err


@dataclass
class Startup:
    """What the editor opens with, and what to tell the user about it."""

    session: ProjectSession
    messages: list[str] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)


def startup_session(path: str | Path | None = None, state_dir: Path | None = None) -> Startup:
    """The session to open: ``path`` if given, else the last project, else the demo.

    Recovery files of ended sessions are returned too; the editor offers them
    before anything else. A last project that no longer opens falls back to the
    demo with a message saying why, never a failure.
    """
    recoveries = find_recoveries(state_dir)
    messages: list[str] = []
    if path is not None:
        return Startup(ProjectSession.open(path, state_dir), messages, recoveries)
    last = last_project(state_dir)
    if last is not None:
        try:
            return Startup(ProjectSession.open(last, state_dir), messages, recoveries)
        except InputFileError as err:
            messages.append(f"The last project could not be opened: {err.one_line()}")
    session = ProjectSession(demo_song(), state_dir=state_dir, description="Open demo")
    messages.append("Welcome: this is the demo tune. F1 shows every key.")
    return Startup(session, messages, recoveries)
