"""Standard MIDI files: a tolerant reader and a type-1 writer (mido).

Reading is done over the raw bytes rather than with ``mido.MidiFile`` because
files "as people have them" break mido's strict parser: missing end-of-track,
chunk lengths past the end of the file, trailing garbage, invalid key
signatures. The reader keeps everything it can make sense of and reports what it
skipped; a file with nothing recognisable raises :class:`InputFileError`.

Writing uses mido: a conductor track (title, tempo map, time and key
signatures, markers) and one named track per part with its program and channel.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.core.song import (
    MAJOR_KEY_TONICS,
    MINOR_KEY_TONICS,
    PPQ,
    ControlChange,
    KeySignature,
    Note,
    PitchBend,
    Song,
    TempoChange,
    TextEvent,
    TextKind,
    TimeSignature,
    Track,
)
from composer.errors import InputFileError

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Bigger files are refused: real MIDI files are a few MB at most."""

MAX_EVENTS = 1_000_000
"""Bounds memory and time on absurd files: about 50 MB of Python objects and a few
seconds at worst (the largest orchestral files hold a few hundred thousand)."""

_CHANNEL_DATA_LENGTH = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}
_TEXT_KINDS: dict[int, TextKind] = {0x01: "text", 0x05: "lyrics", 0x06: "marker",
                                    0x07: "cue_marker"}
_SMPTE_FPS = {24: 24.0, 25: 25.0, 29: 29.97, 30: 30.0}
# Data bytes after a system common message (they do not belong in files, but
# some writers leave them there; skipping their data keeps the track in step).
_SYSTEM_DATA_LENGTH = {0xF1: 1, 0xF2: 2, 0xF3: 1}


@dataclass
class ReadReport:
    """What the reader met in one file: its layout and the problems it skipped."""

    midi_format: int = 1
    division: str = ""
    tracks_in_file: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


@dataclass
class _RawTrack:
    """Events of one MTrk chunk, in file ticks."""

    name: str = ""
    # channel, pitch, on tick, off tick, velocity
    notes: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    programs: list[tuple[int, int, int]] = field(default_factory=list)  # tick, channel, program
    controls: list[tuple[int, int, int, int]] = field(default_factory=list)  # tick, ch, cc, value
    bends: list[tuple[int, int, int]] = field(default_factory=list)  # tick, ch, value
    texts: list[tuple[int, str, TextKind]] = field(default_factory=list)
    tempos: list[tuple[int, int]] = field(default_factory=list)
    meters: list[tuple[int, int, int]] = field(default_factory=list)
    keys: list[tuple[int, int, str]] = field(default_factory=list)
    end_tick: int = 0
    channels: set[int] = field(default_factory=set)


def read_midi(path: str | Path) -> Song:
    """Read a MIDI file into a Song; raises InputFileError naming the problem."""
    song, _ = read_midi_with_report(path)
    return song


def read_midi_with_report(path: str | Path) -> tuple[Song, ReadReport]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputFileError(
                f"{path}: {size // (1024 * 1024)} MB is too large for a MIDI file",
                "MIDI files are rarely over a few MB; is this really MIDI?",
            )
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise InputFileError(f"{path}: is a directory, not a MIDI file") from err
    except PermissionError as err:
        raise InputFileError(f"{path}: permission denied") from err
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror or err})") from err
    return parse_midi_bytes(data, str(path))


def parse_midi_bytes(data: bytes, name: str = "MIDI data") -> tuple[Song, ReadReport]:
    """Parse the bytes of a standard MIDI file (or RIFF RMID wrapper)."""
    report = ReadReport()
    if not data:
        raise InputFileError(f"{name}: the file is empty")
    start = _find_header(data)
    if start < 0:
        raise InputFileError(f"{name}: not a MIDI file (no MThd header)",
                             "expected a standard MIDI file (.mid)")
    if start + 14 > len(data):
        raise InputFileError(f"{name}: the MIDI header is truncated")
    header_len = int.from_bytes(data[start + 4:start + 8], "big")
    midi_format = int.from_bytes(data[start + 8:start + 10], "big")
    declared_tracks = int.from_bytes(data[start + 10:start + 12], "big")
    division = int.from_bytes(data[start + 12:start + 14], "big")
    if midi_format not in (0, 1, 2):
        report.warn(f"unknown MIDI format {midi_format}, read as format 1")
        midi_format = 1
    report.midi_format = midi_format
    if header_len < 6 or start + 8 + header_len > len(data):
        report.warn(f"odd header length {header_len}")
        header_len = 6

    to_ticks, tempo_override = _division_scaler(division, report, name)

    raw_tracks: list[_RawTrack] = []
    pos = start + 8 + header_len
    budget = [MAX_EVENTS]
    while pos + 8 <= len(data):
        chunk_id = data[pos:pos + 4]
        length = int.from_bytes(data[pos + 4:pos + 8], "big")
        body_start = pos + 8
        if chunk_id == b"MTrk":
            if body_start + length > len(data):
                report.warn("the last track is cut short")
            raw_tracks.append(
                _parse_track(data[body_start:body_start + length], report, budget, name))
        elif not all(0x20 <= b < 0x7F for b in chunk_id):
            report.warn(f"{len(data) - pos} bytes of trailing garbage ignored")
            break
        else:
            report.warn(f"unknown chunk {chunk_id.decode('ascii')!r} skipped")
        pos = body_start + length
    if 0 < len(data) - pos < 8:
        report.warn(f"{len(data) - pos} bytes of trailing garbage ignored")
    report.tracks_in_file = len(raw_tracks)
    if declared_tracks != len(raw_tracks):
        report.warn(f"header promises {declared_tracks} tracks, file has {len(raw_tracks)}")
    if not raw_tracks:
        raise InputFileError(f"{name}: the MIDI file has no tracks", "the file may be truncated")

    song = _assemble(raw_tracks, midi_format, to_ticks, tempo_override, report)
    for text in report.warnings:
        log.info("%s: %s", name, text)
    return song, report


def _find_header(data: bytes) -> int:
    if data[:4] == b"MThd":
        return 0
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        return data.find(b"MThd", 12, 4096)
    return -1


def _division_scaler(division: int, report: ReadReport, name: str):
    """A function mapping file ticks to PPQ-480 ticks, and a forced tempo if SMPTE."""
    if division & 0x8000:
        fps_code = 256 - (division >> 8)
        ticks_per_frame = division & 0xFF
        fps = _SMPTE_FPS.get(fps_code)
        if fps is None or ticks_per_frame == 0:
            raise InputFileError(f"{name}: invalid SMPTE time division {division:#06x}")
        ticks_per_second = fps * ticks_per_frame
        report.division = f"SMPTE {fps:g} fps x {ticks_per_frame}"
        # SMPTE files count real time; map it onto a 120 BPM grid (2 beats a second).
        return (lambda t: round(t * 2 * PPQ / ticks_per_second)), 500_000
    if division == 0:
        raise InputFileError(f"{name}: the MIDI header has zero ticks per quarter note")
    report.division = f"{division} ticks per quarter"
    if division == PPQ:
        return (lambda t: t), None
    return (lambda t: round(t * PPQ / division)), None


def _read_varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if pos >= len(data):
            raise IndexError("variable-length number runs past the track")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise ValueError("variable-length number longer than 4 bytes")


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_track(data: bytes, report: ReadReport, budget: list[int], name: str) -> _RawTrack:
    track = _RawTrack()
    open_notes: dict[tuple[int, int], tuple[int, int]] = {}
    owed_offs: dict[tuple[int, int], int] = defaultdict(int)
    swallowed_off: dict[tuple[int, int], int] = {}
    tick = 0
    pos = 0
    status = 0
    try:
        while pos < len(data):
            delta, pos = _read_varlen(data, pos)
            tick += delta
            byte = data[pos]
            if byte & 0x80:
                pos += 1
                if byte < 0xF0:
                    status = byte
            elif status == 0:
                report.warn("data byte without a status byte; rest of track skipped")
                break
            else:
                byte = status  # running status: reuse the last channel status
            if byte == 0xFF:
                meta_type = data[pos]
                length, pos = _read_varlen(data, pos + 1)
                body = data[pos:pos + length]
                pos += length
                if meta_type == 0x2F:
                    break
                _meta(track, meta_type, body, tick, report)
                continue
            if byte in (0xF0, 0xF7):
                length, pos = _read_varlen(data, pos)
                pos += length  # SysEx is not part of the song model
                continue
            if byte >= 0xF0:
                report.warn(f"system message {byte:#04x} in a file skipped")
                pos += _SYSTEM_DATA_LENGTH.get(byte, 0)
                continue
            kind, channel = byte >> 4, byte & 0x0F
            size = _CHANNEL_DATA_LENGTH[kind]
            args = data[pos:pos + size]
            if len(args) < size or any(b & 0x80 for b in args):
                report.warn("corrupt channel message; rest of track skipped")
                break
            pos += size
            budget[0] -= 1
            if budget[0] <= 0:
                raise InputFileError(
                    f"{name}: the MIDI file has more events than composer can hold",
                    f"the limit is {MAX_EVENTS:,} events")
            track.channels.add(channel)
            if kind == 0x9 and args[1] > 0:
                key = (channel, args[0])
                if key in open_notes:
                    # Retrigger: the sounding note ends here and its own note-off,
                    # when it comes, is swallowed so the new note keeps its length.
                    _close(track, key, open_notes.pop(key), tick)
                    owed_offs[key] += 1
                open_notes[key] = (tick, args[1])
            elif kind == 0x8 or kind == 0x9:
                key = (channel, args[0])
                if owed_offs[key] > 0:
                    owed_offs[key] -= 1
                    swallowed_off[key] = tick
                elif key in open_notes:
                    _close(track, key, open_notes.pop(key), tick)
            elif kind == 0xB:
                track.controls.append((tick, channel, args[0], args[1]))
            elif kind == 0xC:
                track.programs.append((tick, channel, args[0]))
            elif kind == 0xE:
                track.bends.append((tick, channel, (args[0] | (args[1] << 7)) - 8192))
    except (IndexError, ValueError):
        report.warn("a track ends in the middle of an event")
    track.end_tick = tick
    if open_notes:
        report.warn(f"{len(open_notes)} notes without note-off ended at the track end")
        for key, (on_tick, velocity) in open_notes.items():
            # A retriggered note whose extra note-off never came: the note-off
            # swallowed for it was most likely its own.
            end = swallowed_off.get(key, -1)
            if end <= on_tick:
                end = max(tick, on_tick + 1)
            _close(track, key, (on_tick, velocity), end)
    return track


def _close(track: _RawTrack, key: tuple[int, int], opened: tuple[int, int], off_tick: int) -> None:
    on_tick, velocity = opened
    track.notes.append((key[0], key[1], on_tick, off_tick, velocity))


def _meta(track: _RawTrack, meta_type: int, body: bytes, tick: int, report: ReadReport) -> None:
    if meta_type == 0x03:
        if not track.name:  # the first name counts; later ones are usually instrument notes
            track.name = _decode_text(body).strip("\x00").strip()
    elif meta_type in _TEXT_KINDS:
        track.texts.append((tick, _decode_text(body), _TEXT_KINDS[meta_type]))
    elif meta_type == 0x51 and len(body) == 3:
        us = int.from_bytes(body, "big")
        if us > 0:
            track.tempos.append((tick, us))
        else:
            report.warn("a tempo of zero skipped")
    elif meta_type == 0x58 and len(body) >= 2:
        numerator, denominator = body[0], 2 ** body[1] if body[1] <= 6 else 0
        if numerator >= 1 and denominator:
            track.meters.append((tick, numerator, denominator))
        else:
            report.warn(f"invalid time signature {numerator}/2^{body[1]} skipped")
    elif meta_type == 0x59 and len(body) == 2:
        fifths = body[0] - 256 if body[0] > 127 else body[0]
        if -7 <= fifths <= 7 and body[1] in (0, 1):
            track.keys.append((tick, fifths, "minor" if body[1] else "major"))
        else:
            report.warn("invalid key signature skipped")


def _assemble(raw_tracks: list[_RawTrack], midi_format: int, to_ticks, tempo_override,
              report: ReadReport) -> Song:
    # Format 2 holds independent patterns: lay them end to end.
    offsets = [0] * len(raw_tracks)
    if midi_format == 2:
        for i in range(1, len(raw_tracks)):
            offsets[i] = offsets[i - 1] + raw_tracks[i - 1].end_tick

    tempos: dict[int, int] = {}
    meters: dict[int, tuple[int, int]] = {}
    keys: dict[int, tuple[int, str]] = {}
    markers: list[TextEvent] = []
    title = ""
    tracks: list[Track] = []
    for index, (raw, offset) in enumerate(zip(raw_tracks, offsets, strict=True)):
        def at(tick: int, offset: int = offset) -> int:
            return to_ticks(tick + offset)

        for t, us in raw.tempos:
            tempos[at(t)] = us
        for t, n, d in raw.meters:
            meters[at(t)] = (n, d)
        for t, f, m in raw.keys:
            keys[at(t)] = (f, m)
        is_conductor = not raw.channels
        if is_conductor:
            if index == 0 and raw.name and not title:
                title = raw.name
            markers.extend(TextEvent(at(t), text, kind) for t, text, kind in raw.texts)
            continue
        tracks.extend(_split_by_channel(raw, at, len(raw.channels) > 1, report))

    if tempo_override is not None:
        tempos = {0: tempo_override}
    if 0 not in tempos:
        tempos[0] = 500_000
    if 0 not in meters:
        meters[0] = (4, 4)
    return Song(
        title=title,
        tracks=tuple(tracks),
        tempos=tuple(TempoChange(t, us) for t, us in sorted(tempos.items())),
        time_signatures=tuple(TimeSignature(t, n, d) for t, (n, d) in sorted(meters.items())),
        keys=tuple(KeySignature(t, f, m) for t, (f, m) in sorted(keys.items())),  # type: ignore[arg-type]
        markers=tuple(sorted(markers)),
    )


def _split_by_channel(raw: _RawTrack, at, several: bool, report: ReadReport) -> list[Track]:
    tracks = []
    for channel in sorted(raw.channels):
        programs = [(t, p) for t, ch, p in raw.programs if ch == channel]
        if len({p for _, p in programs}) > 1:
            report.warn(f"track {raw.name!r} changes program mid-track; the first one is kept")
        notes = []
        for ch, pitch, on, off, velocity in raw.notes:
            if ch != channel:
                continue
            start, end = at(on), at(off)
            notes.append(Note(pitch=pitch, start_tick=start, duration_ticks=max(end - start, 1),
                              velocity=velocity))
        controls = [ControlChange(at(t), cc, v) for t, ch, cc, v in raw.controls if ch == channel]
        bends = [PitchBend(at(t), v) for t, ch, v in raw.bends if ch == channel]
        if not notes and not controls and not bends and not raw.texts and (several or not raw.name):
            continue  # an unnamed or shared channel with nothing on it (a named part is kept)
        name = raw.name or ("Drums" if channel == 9 else f"Channel {channel + 1}")
        if several:
            name = f"{name} (ch {channel + 1})"
        texts = []
        if channel == min(raw.channels):  # texts go with the track's first channel
            texts = [TextEvent(at(t), x, k) for t, x, k in raw.texts]
        tracks.append(Track(
            name=name,
            notes=tuple(sorted(notes)),
            program=programs[0][1] if programs else 0,
            channel=channel,
            controls=tuple(sorted(controls)),
            pitch_bends=tuple(sorted(bends)),
            texts=tuple(sorted(texts)),
        ))
    return tracks


# --------------------------------------------------------------------- writing


def song_to_midi_bytes(song: Song) -> bytes:
    """Encode a Song as a type-1 standard MIDI file at PPQ 480."""
    import io

    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    midi.tracks.append(_conductor_track(song, mido))
    for track in song.tracks:
        midi.tracks.append(_part_track(track, mido))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def write_midi(song: Song, path: str | Path) -> None:
    """Write a Song as a type-1 MIDI file, atomically."""
    from composer.io.atomic import atomic_write_bytes

    atomic_write_bytes(Path(path), song_to_midi_bytes(song))


def _latin1(text: str) -> str:
    # mido encodes meta text as latin-1; carry UTF-8 bytes through it so names
    # in any script survive (readers today decode meta text as UTF-8).
    return text.encode("utf-8").decode("latin-1")


def _delta_track(events: list[tuple[int, int, Any]], end_tick: int, mido) -> Any:
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end_tick - now, 0)))
    return track


def _conductor_track(song: Song, mido):
    events: list[tuple[int, int, Any]] = []
    if song.title:
        events.append((0, 0, mido.MetaMessage("track_name", name=_latin1(song.title))))
    for ts in song.time_signatures:
        events.append((ts.tick, 1, mido.MetaMessage(
            "time_signature", numerator=ts.numerator, denominator=ts.denominator,
            clocks_per_click=24, notated_32nd_notes_per_beat=8)))
    for key in song.keys:
        events.append((key.tick, 2, mido.MetaMessage("key_signature", key=_mido_key(key))))
    for tempo in song.tempos:
        events.append((tempo.tick, 3, mido.MetaMessage("set_tempo", tempo=tempo.us_per_quarter)))
    for marker in song.markers:
        events.append((marker.tick, 4, mido.MetaMessage(marker.kind, text=_latin1(marker.text))))
    return _delta_track(events, song.end_tick, mido)


def _mido_key(key: KeySignature) -> str:
    """The key name mido writes as a key signature: 'Eb' (3 flats, major), 'F#m'."""
    if key.mode == "minor":
        return MINOR_KEY_TONICS[key.fifths + 7] + "m"
    return MAJOR_KEY_TONICS[key.fifths + 7]


def _part_track(track: Track, mido):
    ch = track.channel
    events: list[tuple[int, int, Any]] = [
        (0, 0, mido.MetaMessage("track_name", name=_latin1(track.name))),
        (0, 1, mido.Message("program_change", channel=ch, program=track.program)),
    ]
    for text in track.texts:
        events.append((text.tick, 2, mido.MetaMessage(text.kind, text=_latin1(text.text))))
    for cc in track.controls:
        events.append((cc.tick, 3, mido.Message("control_change", channel=ch,
                                                control=cc.control, value=cc.value)))
    for bend in track.pitch_bends:
        events.append((bend.tick, 3, mido.Message("pitchwheel", channel=ch, pitch=bend.value)))
    for note in track.notes:
        # At one tick, note-offs go before note-ons so a repeated pitch re-sounds.
        events.append((note.end_tick, 4, mido.Message("note_off", channel=ch, note=note.pitch,
                                                      velocity=0)))
        events.append((note.start_tick, 5, mido.Message("note_on", channel=ch, note=note.pitch,
                                                        velocity=note.velocity)))
    return _delta_track(events, track.end_tick, mido)

