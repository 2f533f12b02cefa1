"""Export for DAWs and notation programs: type-1 MIDI and MusicXML."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from composer.core.song import DRUM_CHANNEL, Song
from composer.errors import InputFileError
from composer.io.song_files import load_song, save_song


def prepare_for_export(song: Song) -> Song:
    """Give every pitched part its own MIDI channel (skipping drums' channel 10)
    so a DAW shows one instrument per track; drum tracks stay on channel 10."""
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    seen: set[int] = set()
    tracks = []
    for track in song.tracks:
        if track.is_drum:
            tracks.append(track)
            continue
        channel = track.channel
        if channel in seen:
            channel = next((c for c in free if c not in seen), channel)
        seen.add(channel)
        tracks.append(replace(track, channel=channel))
    return replace(song, tracks=tuple(tracks))


def export_song(song: Song, out_path: str | Path) -> Path:
    """Write ``song`` to ``out_path`` as MIDI or MusicXML (by suffix)."""
    return save_song(prepare_for_export(song), out_path)


def export_file(in_path: str | Path, out_path: str | Path) -> Path:
    """Convert any readable song file to MIDI or MusicXML."""
    song = load_song(in_path)
    if not song.note_count:
        raise InputFileError(f"{in_path}: has no notes to export")
    return export_song(song, out_path)
