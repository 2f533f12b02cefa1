"""Song <-> plain dict (JSON-ready), used by project files and the corpus cache.

Notes are stored as compact ``[start_tick, pitch, duration_ticks, velocity]``
rows so a corpus of a million notes loads in well under a second.
"""

from __future__ import annotations

from typing import Any

from composer.core.song import (
    ControlChange,
    KeySignature,
    Note,
    PitchBend,
    Song,
    TempoChange,
    TextEvent,
    TimeSignature,
    Track,
)


def track_to_dict(track: Track) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": track.name,
        "program": track.program,
        "channel": track.channel,
        "notes": [[n.start_tick, n.pitch, n.duration_ticks, n.velocity] for n in track.notes],
    }
    if track.controls:
        data["controls"] = [[c.tick, c.control, c.value] for c in track.controls]
    if track.pitch_bends:
        data["pitch_bends"] = [[b.tick, b.value] for b in track.pitch_bends]
    if track.texts:
        data["texts"] = [[t.tick, t.text, t.kind] for t in track.texts]
    return data


def track_from_dict(data: dict[str, Any]) -> Track:
    return Track(
        name=str(data.get("name", "")),
        program=int(data.get("program", 0)),
        channel=int(data.get("channel", 0)),
        notes=tuple(
            Note(start_tick=int(s), pitch=int(p), duration_ticks=int(d), velocity=int(v))
            for s, p, d, v in data.get("notes", [])
        ),
        controls=tuple(ControlChange(int(t), int(c), int(v))
                       for t, c, v in data.get("controls", [])),
        pitch_bends=tuple(PitchBend(int(t), int(v)) for t, v in data.get("pitch_bends", [])),
        texts=tuple(TextEvent(int(t), str(x), k) for t, x, k in data.get("texts", [])),
    )


def song_to_dict(song: Song) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": song.title,
        "tempos": [[t.tick, t.us_per_quarter] for t in song.tempos],
        "time_signatures": [[t.tick, t.numerator, t.denominator] for t in song.time_signatures],
        "keys": [[k.tick, k.fifths, k.mode] for k in song.keys],
        "tracks": [track_to_dict(t) for t in song.tracks],
    }
    if song.markers:
        data["markers"] = [[m.tick, m.text, m.kind] for m in song.markers]
    return data


def song_from_dict(data: dict[str, Any]) -> Song:
    """Rebuild a Song; raises ValueError/TypeError/KeyError on malformed data."""
    return Song(
        title=str(data.get("title", "")),
        tempos=tuple(TempoChange(int(t), int(u)) for t, u in data["tempos"]),
        time_signatures=tuple(
            TimeSignature(int(t), int(n), int(d)) for t, n, d in data["time_signatures"]
        ),
        keys=tuple(KeySignature(int(t), int(f), m) for t, f, m in data.get("keys", [])),
        tracks=tuple(track_from_dict(t) for t in data.get("tracks", [])),
        markers=tuple(TextEvent(int(t), str(x), k) for t, x, k in data.get("markers", [])),
    )
