"""Build standard MIDI files byte by byte, so tests say exactly what a file holds.

``smf(1, [track(on(0, 0, 60, 90), off(480, 0, 60))])`` is a one-note type-1 file.
Nothing here goes through mido: the point is to feed the reader files as other
programs (and broken programs) write them.
"""

from __future__ import annotations


def varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    if value < 0:
        raise ValueError("variable-length values are never negative")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def header(midi_format: int = 1, tracks: int = 1, division: int = 480) -> bytes:
    return b"MThd" + (6).to_bytes(4, "big") + midi_format.to_bytes(2, "big") \
        + tracks.to_bytes(2, "big") + division.to_bytes(2, "big")


def chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    """A chunk; ``length`` overrides the declared length (to lie about it)."""
    declared = len(body) if length is None else length
    return kind + declared.to_bytes(4, "big") + body


def track(*events: bytes, end: bool = True, length: int | None = None) -> bytes:
    """An MTrk chunk of ``events``, closed with end-of-track unless ``end`` is False."""
    body = b"".join(events) + (b"\x00\xff\x2f\x00" if end else b"")
    return chunk(b"MTrk", body, length)


def smf(midi_format: int, tracks: list[bytes], division: int = 480,
        declared_tracks: int | None = None) -> bytes:
    count = len(tracks) if declared_tracks is None else declared_tracks
    return header(midi_format, count, division) + b"".join(tracks)


def smpte_division(fps: int, ticks_per_frame: int) -> int:
    """The header's division word for SMPTE time: negative fps in the high byte."""
    return ((256 - fps) << 8) | ticks_per_frame


def event(delta: int, *data: int) -> bytes:
    return varlen(delta) + bytes(data)


def on(delta: int, channel: int, pitch: int, velocity: int = 80) -> bytes:
    return event(delta, 0x90 | channel, pitch, velocity)


def off(delta: int, channel: int, pitch: int, velocity: int = 64) -> bytes:
    return event(delta, 0x80 | channel, pitch, velocity)


def running(delta: int, *data: int) -> bytes:
    """Data bytes only: the previous status byte applies (running status)."""
    return event(delta, *data)


def program(delta: int, channel: int, number: int) -> bytes:
    return event(delta, 0xC0 | channel, number)


def control(delta: int, channel: int, number: int, value: int) -> bytes:
    return event(delta, 0xB0 | channel, number, value)


def bend(delta: int, channel: int, value: int) -> bytes:
    raw = value + 8192
    return event(delta, 0xE0 | channel, raw & 0x7F, raw >> 7)


def meta(delta: int, kind: int, data: bytes) -> bytes:
    return varlen(delta) + bytes([0xFF, kind]) + varlen(len(data)) + data


def name(delta: int, text: str) -> bytes:
    return meta(delta, 0x03, text.encode("utf-8"))


def text(delta: int, value: str, kind: int = 0x01) -> bytes:
    return meta(delta, kind, value.encode("utf-8"))


def tempo(delta: int, us_per_quarter: int) -> bytes:
    return meta(delta, 0x51, us_per_quarter.to_bytes(3, "big"))


def time_signature(delta: int, numerator: int, denominator_power: int) -> bytes:
    return meta(delta, 0x58, bytes([numerator, denominator_power, 24, 8]))


def key_signature(delta: int, fifths: int, minor: int = 0) -> bytes:
    return meta(delta, 0x59, bytes([fifths & 0xFF, minor]))


def sysex(delta: int, data: bytes) -> bytes:
    return varlen(delta) + b"\xf0" + varlen(len(data) + 1) + data + b"\xf7"


def rmid(midi: bytes) -> bytes:
    """Wrap a standard MIDI file in a RIFF RMID container (Windows' .rmi)."""
    # RIFF chunk sizes are little-endian, unlike MIDI's.
    body = b"RMID" + b"data" + len(midi).to_bytes(4, "little") + midi
    return b"RIFF" + len(body).to_bytes(4, "little") + body
