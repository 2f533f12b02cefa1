"""Melody continuation and infilling, for the CLI, the editor and the jam modes.

The prompt is one track of a song (the first pitched track unless chosen). A
polyphonic prompt is reduced to its top line; a prompt outside the models'
pitch range is moved by octaves and the result moved back. Output is
monophonic, starts exactly where the prompt ends, fills whole bars, honours the
key lock and pitch range, and is the same for the same seed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from composer.core import ops
from composer.core.pitch import scale_pitch_classes
from composer.core.song import KeySignature, Note, Song, Track
from composer.core.timing import BarGrid
from composer.errors import InvalidArgumentError
from composer.services.jobs import Progress, check_cancel, no_progress

MODELS = ("transformer", "lstm", "markov")
DEFAULT_MODEL = "transformer"
MAX_BARS = 64
MAX_VARIATIONS = 16


@dataclass(frozen=True)
class GenerationSettings:
    """What the user asks of a generator."""

    model: str = DEFAULT_MODEL
    bars: int = 4
    variations: int = 1
    temperature: float = 0.9
    top_p: float = 0.95
    seed: int | None = None
    key_lock: bool = False
    pitch_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InvalidArgumentError(f"unknown model {self.model!r}",
                                       f"choose one of: {', '.join(MODELS)}")
        if not 1 <= self.bars <= MAX_BARS:
            raise InvalidArgumentError(f"--bars {self.bars} is outside 1..{MAX_BARS}")
        if not 1 <= self.variations <= MAX_VARIATIONS:
            raise InvalidArgumentError(
                f"--variations {self.variations} is outside 1..{MAX_VARIATIONS}")
        if not 0.0 <= self.temperature <= 5.0:
            raise InvalidArgumentError(f"--temperature {self.temperature} is outside 0..5")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidArgumentError(f"--top-p {self.top_p} is outside (0, 1]")
        if self.pitch_range is not None:
            low, high = self.pitch_range
            if not 0 <= low <= high <= 127:
                raise InvalidArgumentError(f"pitch range {low}..{high} is not a MIDI range")
            if high - low < 2:
                raise InvalidArgumentError("the pitch range is too narrow to write a melody in")


@dataclass
class GenerationResult:
    """Generated variations: tracks holding only the new notes."""

    variations: list[Track]
    start_tick: int
    end_tick: int
    track_index: int
    key: KeySignature
    messages: list[str] = field(default_factory=list)


def choose_track(song: Song, track_index: int | None, messages: list[str]) -> int:
    if not song.tracks or not song.note_count:
        raise InvalidArgumentError("the prompt has no notes to continue",
                                   "write or record a few notes first")
    if track_index is not None:
        if not 0 <= track_index < len(song.tracks):
            raise InvalidArgumentError(f"track {track_index + 1} does not exist "
                                       f"(the song has {len(song.tracks)})")
        if song.tracks[track_index].is_drum:
            raise InvalidArgumentError(f"track {track_index + 1} is a drum track, not a melody")
        if not song.tracks[track_index].notes:
            raise InvalidArgumentError(f"track {track_index + 1} has no notes to continue")
        return track_index
    for index, track in enumerate(song.tracks):
        if track.notes and not track.is_drum:
            return index
    raise InvalidArgumentError("the song has only drum tracks; there is no melody to continue")


def melody_line(track: Track, messages: list[str]) -> list[Note]:
    if ops.is_monophonic(track):
        return sorted(track.notes)
    messages.append(f"'{track.name}' is polyphonic: used its top line as the melody")
    return sorted(ops.top_line(track).notes)


def continue_melody(song: Song, settings: GenerationSettings, track_index: int | None = None,
                    from_tick: int | None = None, progress: Progress = no_progress,
                    cancel: threading.Event | None = None) -> GenerationResult:
    """Continue a melody by ``settings.bars`` bars, once per variation."""
    messages: list[str] = []
    index = choose_track(song, track_index, messages)
    track = song.tracks[index]
    notes = melody_line(track, messages)
    start = from_tick if from_tick is not None else max(n.end_tick for n in notes)
    if start < 0:
        raise InvalidArgumentError("the continuation cannot start before the song")
    prompt = [n for n in notes if n.start_tick < start]
    prompt = [n if n.end_tick <= start else replace(n, duration_ticks=start - n.start_tick)
              for n in prompt]
    if not prompt:
        raise InvalidArgumentError("there are no notes before the cursor to continue",
                                   "move the cursor after some notes")
    from composer.services.models import melody_model

    check_cancel(cancel)
    progress(0.05, f"loading the {settings.model} model")
    generator = melody_model(settings.model)
    key = generator.key_of(song, prompt)
    progress(0.2, "generating")
    generated = generator.continue_notes(song, prompt, key, start, settings, cancel)
    check_cancel(cancel)
    result_tracks = [
        Track(name=f"{track.name} · variation {i + 1}", notes=tuple(v), program=track.program,
              channel=track.channel)
        for i, v in enumerate(generated.variations)
    ]
    messages.extend(generated.messages)
    progress(1.0, "done")
    return GenerationResult(result_tracks, start, generated.end_tick, index, key, messages)


def infill_melody(song: Song, first_bar: int, last_bar: int, settings: GenerationSettings,
                  track_index: int | None = None, progress: Progress = no_progress,
                  cancel: threading.Event | None = None) -> GenerationResult:
    """Regenerate bars ``first_bar``..``last_bar`` (zero-based) so they lead into what follows."""
    messages: list[str] = []
    index = choose_track(song, track_index, messages)
    track = song.tracks[index]
    notes = melody_line(track, messages)
    grid = BarGrid.of(song)
    total_bars = grid.bars_to_cover(song.end_tick)
    if first_bar < 0 or last_bar < first_bar:
        raise InvalidArgumentError(f"bar range {first_bar + 1}-{last_bar + 1} is empty")
    if last_bar >= total_bars:
        raise InvalidArgumentError(f"bar {last_bar + 1} is past the end of the song "
                                   f"({total_bars} bars)")
    if settings.model == "markov":
        raise InvalidArgumentError("the Markov baseline cannot infill (it only looks backwards)",
                                   "use --model transformer or --model lstm")
    from composer.services.models import melody_model

    check_cancel(cancel)
    progress(0.05, f"loading the {settings.model} model")
    generator = melody_model(settings.model)
    key = generator.key_of(song, notes)
    progress(0.2, "generating")
    generated = generator.infill_notes(song, notes, key, first_bar, last_bar, settings, cancel)
    check_cancel(cancel)
    result_tracks = [
        Track(name=f"{track.name} · fill {i + 1}", notes=tuple(v), program=track.program,
              channel=track.channel)
        for i, v in enumerate(generated.variations)
    ]
    messages.extend(generated.messages)
    progress(1.0, "done")
    return GenerationResult(result_tracks, grid.bar_start_tick(first_bar),
                            grid.bar_start_tick(last_bar + 1), index, key, messages)


def apply_continuation(song: Song, result: GenerationResult, variation: int) -> Song:
    """The song with one variation's notes added to the prompt track."""
    track = song.tracks[result.track_index]
    kept = [n for n in track.notes if n.start_tick < result.start_tick]
    notes = kept + list(result.variations[variation].notes)
    return song.replace_track(result.track_index, track.with_notes(ops.remove_overlaps(notes)))


def apply_infill(song: Song, result: GenerationResult, variation: int) -> Song:
    """The song with the bar range replaced by one variation's notes."""
    track = song.tracks[result.track_index]
    kept = [n for n in track.notes
            if n.end_tick <= result.start_tick or n.start_tick >= result.end_tick]
    kept += [replace(n, duration_ticks=result.start_tick - n.start_tick)
             for n in track.notes if n.start_tick < result.start_tick < n.end_tick]
    notes = kept + list(result.variations[variation].notes)
    return song.replace_track(result.track_index, track.with_notes(ops.remove_overlaps(notes)))


def in_key_share(notes: list[Note], key: KeySignature) -> float:
    """Share of notes whose pitch class belongs to ``key`` (minor admits raised 6th/7th)."""
    if not notes:
        return 1.0
    pcs = scale_pitch_classes(key)
    return sum(1 for n in notes if n.pitch % 12 in pcs) / len(notes)

