"""``composer info``: what a song file holds, in words a musician reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from composer.core.pitch import estimate_key, note_name
from composer.core.song import Song
from composer.core.timing import BarGrid, TempoMap


@dataclass
class TrackInfo:
    name: str
    program: int
    channel: int
    notes: int
    lowest: str
    highest: str
    is_drum: bool


@dataclass
class SongInfo:
    path: str
    title: str
    tracks: list[TrackInfo]
    notes: int
    bars: int
    seconds: float
    tempos_bpm: list[float]
    meters: list[str]
    keys: list[str]
    estimated_key: str
    layout: str = ""
    warnings: list[str] = field(default_factory=list)


def describe_song(song: Song, path: str = "", layout: str = "",
                  warnings: list[str] | None = None) -> SongInfo:
    grid = BarGrid.of(song)
    tracks = [
        TrackInfo(
            name=t.name, program=t.program, channel=t.channel + 1, notes=len(t.notes),
            lowest=note_name(min(n.pitch for n in t.notes)) if t.notes else "-",
            highest=note_name(max(n.pitch for n in t.notes)) if t.notes else "-",
            is_drum=t.is_drum,
        )
        for t in song.tracks
    ]
    pitched = [n for t in song.tracks if not t.is_drum for n in t.notes]
    return SongInfo(
        path=path,
        title=song.title,
        tracks=tracks,
        notes=song.note_count,
        bars=grid.bars_to_cover(song.end_tick),
        seconds=TempoMap.of(song).seconds_at(song.end_tick),
        tempos_bpm=[round(t.tempo_bpm, 2) for t in song.tempos],
        meters=[str(ts) for ts in song.time_signatures],
        keys=[k.name for k in song.keys],
        estimated_key=estimate_key(pitched).name if pitched else "-",
        layout=layout,
        warnings=list(warnings or []),
    )


def inspect_file(path: str | Path) -> SongInfo:
    """Read any song file and describe it (MIDI files also report their layout)."""
    path = Path(path)
    from composer.io.song_files import load_song

    layout, warnings = "", []
    song = load_song(path)
    with path.open("rb") as handle:
        is_midi = handle.read(4) in (b"MThd", b"RIFF")
    if is_midi:
        from composer.io.midi_file import read_midi_with_report

        _, report = read_midi_with_report(path)
        layout = f"MIDI format {report.midi_format}, {report.division}, {report.tracks_in_file} tracks"
        warnings = report.warnings
    return describe_song(song, str(path), layout, warnings)
