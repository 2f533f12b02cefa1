"""Open and save songs in any format composer knows, chosen by content and name.

MIDI is recognised by its header bytes whatever the file is called; scores
(MusicXML, compressed MXL, ABC, Humdrum) go through music21. Third-party
parse errors are wrapped here, once, as :class:`InputFileError`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from composer.core.song import Song
from composer.errors import InputFileError, OutputFileError

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi", ".smf")
SCORE_SUFFIXES = (".musicxml", ".xml", ".mxl", ".abc", ".krn")
EXPORT_SUFFIXES = (".mid", ".midi", ".musicxml", ".xml")
MAX_SCORE_BYTES = 32 * 1024 * 1024


def load_song(path: str | Path) -> Song:
    """Read a MIDI file or a score into a Song; raises InputFileError with a clear reason."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a song file")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror or err})") from err
    if not head:
        raise InputFileError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if head.startswith(b"MThd") or (head.startswith(b"RIFF") and head[8:12] == b"RMID"):
        from composer.io.midi_file import read_midi

        return read_midi(path)
    if suffix in MIDI_SUFFIXES:
        raise InputFileError(f"{path}: not a MIDI file (no MThd header)",
                             "the file may be corrupt or of another type")
    if suffix in (".json", ".composer"):
        from composer.io.project_file import read_project

        return read_project(path).song
    if suffix in SCORE_SUFFIXES:
        return _load_score(path)
    raise InputFileError(
        f"{path}: unknown file type {suffix or '(no extension)'}",
        "composer reads MIDI (.mid), MusicXML (.musicxml/.mxl), ABC and Humdrum files",
    )


def _load_score(path: Path) -> Song:
    if path.stat().st_size > MAX_SCORE_BYTES:
        raise InputFileError(f"{path}: too large for a score file")
    from composer.io.music21_convert import score_to_song

    try:
        from music21 import converter

        parsed = converter.parse(str(path))
    except Exception as err:  # music21 raises dozens of exception types
        raise InputFileError(f"{path}: cannot be read as a score ({_short(err)})") from err
    if hasattr(parsed, "scores") and parsed.scores:  # an ABC or Humdrum opus: take the first
        parsed = parsed.scores[0]
    try:
        song = score_to_song(parsed)  # the score's own title, else the file's name
        if not song.title:
            song = replace(song, title=path.stem)
    except Exception as err:
        raise InputFileError(
            f"{path}: the score has content composer cannot use ({_short(err)})") from err
    if not song.note_count:
        raise InputFileError(f"{path}: the score has no notes")
    return song


def _short(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:160]


def save_song(song: Song, path: str | Path) -> Path:
    """Write a Song as MIDI or MusicXML, chosen by the file name's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        from composer.io.midi_file import write_midi

        write_midi(song, path)
    elif suffix in (".musicxml", ".xml", ".mxl"):
        from composer.io.music21_convert import write_musicxml

        if suffix == ".mxl":
            raise OutputFileError(f"{path}: compressed MusicXML is not written",
                                  "use .musicxml; every notation program reads it")
        write_musicxml(song, str(path))
    else:
        raise OutputFileError(f"{path}: unknown output type {suffix or '(no extension)'}",
                              "use .mid for MIDI or .musicxml for MusicXML")
    return path
