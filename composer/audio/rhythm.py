"""From notes in seconds to notes on the bar grid: beats, tempo, meter, quantisation.

Beats are tracked (librosa's dynamic-programming tracker) over an onset
envelope made from the transcribed notes themselves, each onset weighted by
its loudness and length. The meter is the grouping of beats (2, 3 or 4) whose
strongest position stands out most, counting long notes, many simultaneous
onsets and low notes as accents; that position becomes the downbeat, and a
pickup before it is padded so bar lines fall on the grid as in the corpus.
A steady performance gets one tempo fitted to its beats; one that drifts
gets a tempo per bar, so the grid follows the player.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from composer.audio.decode import NoteEvent
from composer.audio.features import FRAMES_PER_SECOND
from composer.core import ops
from composer.core.pitch import estimate_key
from composer.core.song import PPQ, Note, PitchBend, Song, TempoChange, TimeSignature, Track
from composer.errors import InvalidArgumentError

DEFAULT_TEMPO_BPM = 120.0
STEADY_SPREAD = 0.04  # beat intervals within 4% of each other: one tempo
DRIFT_SPREAD = 0.08  # local tempo varying more than 8% (10th to 90th percentile): follow it


@dataclass(frozen=True)
class Grid:
    """Where beats fall in the performance, and how they group into bars."""

    beats_s: np.ndarray  # beat times, at least two, increasing
    beats_per_bar: int
    downbeat: int  # index in beats_s of a downbeat
    steady: bool
    fit: tuple[float, float] = (0.0, 0.0)  # seconds per beat, time of beat 0 (steady only)

    @property
    def tempo_bpm(self) -> float:
        if self.steady and self.fit[0] > 0:
            return float(60.0 / self.fit[0])
        return float(60.0 / np.median(np.diff(self.beats_s)))

    def beat_position(self, seconds: np.ndarray | float) -> np.ndarray:
        """Fractional beat index of each time, extrapolating past both ends."""
        t = np.asarray(seconds, np.float64)
        beats = self.beats_s
        index = np.arange(beats.size, dtype=np.float64)
        if self.steady:
            slope, intercept = self.fit
            return (t - intercept) / slope
        first = (t - beats[0]) / (beats[1] - beats[0])
        last = beats.size - 1 + (t - beats[-1]) / (beats[-1] - beats[-2])
        inside = np.interp(t, beats, index)
        return np.where(t < beats[0], first, np.where(t > beats[-1], last, inside))

    def pickup_bars(self, earliest_s: float) -> int:
        """Whole bars to pad before the first downbeat so nothing lands before tick 0."""
        before = float(self.downbeat - self.beat_position(earliest_s))
        return max(0, int(np.ceil(before / self.beats_per_bar - 1e-6)))


def parse_quantize(text: str) -> int | None:
    """Grid in ticks for '1/16', '1/8t' (triplets) ... ; None for 'off'."""
    value = text.strip().lower()
    if value in ("off", "none", "0"):
        return None
    triplet = value.endswith("t")
    if triplet:
        value = value[:-1]
    try:
        numerator, denominator = (int(x) for x in value.split("/"))
    except ValueError:
        raise InvalidArgumentError(f"quantize grid {text!r} is not like 1/16, 1/8t or off") \
            from None
    if numerator != 1 or denominator not in (1, 2, 4, 8, 16, 32, 64):
        raise InvalidArgumentError(f"quantize grid {text!r} is not 1/1 .. 1/64")
    ticks = PPQ * 4 // denominator
    return ticks * 2 // 3 if triplet else ticks


def onset_envelope(notes: Sequence[NoteEvent], frames: int) -> np.ndarray:
    """Per-frame onset strength: each note's loudness and (capped) length at its onset."""
    envelope = np.zeros(max(frames, 1), np.float64)
    for n in notes:
        i = int(round(n.onset_s * FRAMES_PER_SECOND))
        if 0 <= i < envelope.size:
            envelope[i] += (n.velocity / 127) * (0.5 + min(n.offset_s - n.onset_s, 1.0))
    kernel = np.exp(-0.5 * (np.arange(-3, 4) / 1.2) ** 2)
    return np.convolve(envelope, kernel, mode="same")


def track_beats(notes: Sequence[NoteEvent], duration_s: float,
                tempo_bpm: float | None = None) -> np.ndarray:
    """Beat times in seconds (at least two, even for a single note)."""
    frames = int(duration_s * FRAMES_PER_SECOND) + 8
    envelope = onset_envelope(notes, frames)
    beats = np.zeros(0)
    if len(notes) >= 4:
        import librosa

        envelope = envelope.astype(np.float32)
        bpm: float | np.ndarray
        if tempo_bpm:
            bpm = float(tempo_bpm)
        else:
            # A local tempo every frame (8-second windows); the tracker follows it
            # when the player drifts, and holds one tempo when they do not.
            local = _local_tempo(envelope)
            median = float(np.median(local))
            spread = float(np.subtract(*np.percentile(local, [90, 10]))) / median
            bpm = local.astype(np.float64) if spread > DRIFT_SPREAD else median
        _, beat_frames = librosa.beat.beat_track(
            onset_envelope=envelope, sr=16_000, hop_length=256, bpm=bpm,
            tightness=100, trim=False, units="frames")
        beats = np.asarray(beat_frames, np.float64) / FRAMES_PER_SECOND
        if beats.size >= 3:
            # Untrimmed, the tracker can invent a beat or two before the music
            # starts, at whatever spacing fits; the grid extrapolates there instead.
            first_onset = min(n.onset_s for n in notes)
            spacing = float(np.median(np.diff(beats)))
            played = beats[beats >= first_onset - 0.5 * spacing]
            beats = played if played.size >= 2 else beats
    if beats.size >= 2 and not tempo_bpm:
        return beats
    if beats.size >= 2 and tempo_bpm:
        # A given tempo is exact: keep the tracked phase, not the tracked spacing.
        period = 60.0 / tempo_bpm
        phase = float(np.median((beats - beats[0]) % period))
        start = beats[0] + phase
        return start + period * np.arange(max(int(duration_s / period) + 2, 2))
    period = 60.0 / (tempo_bpm or DEFAULT_TEMPO_BPM)
    start = notes[0].onset_s if notes else 0.0
    return start + period * np.arange(max(int((duration_s - start) / period) + 2, 2))


def _local_tempo(envelope: np.ndarray, segment_s: float = 60.0) -> np.ndarray:
    """Tempo (BPM) at every frame, from 8-second autocorrelation windows.

    Worked out a minute at a time: librosa's tempogram holds a few hundred
    values per frame, which for a three-hour file would not fit in memory.
    """
    import librosa

    step = int(segment_s * FRAMES_PER_SECOND)
    pad = int(8.0 * FRAMES_PER_SECOND)
    parts = []
    for start in range(0, envelope.size, step):
        lo, hi = max(start - pad, 0), min(start + step + pad, envelope.size)
        local = librosa.feature.tempo(onset_envelope=envelope[lo:hi], sr=16_000,
                                      hop_length=256, aggregate=None, start_bpm=100.0,
                                      ac_size=8.0)
        parts.append(local[start - lo:start - lo + min(step, envelope.size - start)])
    return np.concatenate(parts)


def guess_meter(notes: Sequence[NoteEvent], beats: np.ndarray) -> tuple[int, int]:
    """(beats per bar, index of a downbeat) from where accents fall."""
    if beats.size < 6 or not notes:
        return 4, 0
    half = np.diff(beats).mean() / 2
    onsets = np.array([n.onset_s for n in notes])
    pitches = np.array([n.pitch for n in notes], np.float64)
    weights = (0.3 + np.minimum([n.offset_s - n.onset_s for n in notes], 2.0)
               + np.array([n.velocity for n in notes]) / 127
               + 0.5 * np.exp(-(pitches - pitches.min()) / 12))  # bass notes mark downbeats
    right = np.clip(np.searchsorted(beats, onsets), 1, beats.size - 1)
    nearest = np.where(onsets - beats[right - 1] < beats[right] - onsets, right - 1, right)
    close = np.abs(beats[nearest] - onsets) <= half * 0.6
    accent = np.bincount(nearest[close], weights=weights[close], minlength=beats.size)
    best = (-np.inf, 4, 0)
    for per_bar, bias in ((4, 0.05), (3, 0.0), (2, -0.05)):
        usable = beats.size // per_bar * per_bar
        if usable < per_bar * 2:
            continue
        for phase in range(per_bar):
            rolled = accent[phase:phase + usable - per_bar] if phase else accent[:usable]
            groups = rolled[: rolled.size // per_bar * per_bar].reshape(-1, per_bar)
            if groups.size == 0:
                continue
            means = groups.mean(axis=0)
            contrast = (means[0] - means[1:].mean()) / (accent.mean() + 1e-9) + bias
            if contrast > best[0]:
                best = (contrast, per_bar, phase)
    return best[1], best[2]


def make_grid(notes: Sequence[NoteEvent], duration_s: float,
              tempo_bpm: float | None = None, beats_per_bar: int | None = None) -> Grid:
    beats = track_beats(notes, duration_s, tempo_bpm)
    per_bar, downbeat = guess_meter(notes, beats)
    if beats_per_bar:
        per_bar = beats_per_bar
    intervals = np.diff(beats)
    spread = float(np.std(intervals) / np.mean(intervals)) if intervals.size > 1 else 0.0
    steady = bool(tempo_bpm) or spread < STEADY_SPREAD
    if tempo_bpm:
        period = 60.0 / tempo_bpm
        fit = (period, float(np.mean(beats - period * np.arange(beats.size))))
    else:
        slope, intercept = np.polyfit(np.arange(beats.size, dtype=np.float64), beats, 1)
        fit = (float(slope), float(intercept))
    return Grid(beats_s=beats, beats_per_bar=per_bar, downbeat=downbeat, steady=steady,
                fit=fit)


def _tempo_map(grid: Grid, pad_beats: int, end_tick: int) -> tuple[TempoChange, ...]:
    if grid.steady:
        return (TempoChange.from_bpm(0, float(np.clip(grid.tempo_bpm, 20, 400))),)
    # One tempo per bar: the time it took to play that bar.
    changes: list[TempoChange] = []
    bar_ticks = grid.beats_per_bar * PPQ
    for start_tick in range(0, max(end_tick, 1), bar_ticks):
        first = start_tick / PPQ - pad_beats + grid.downbeat
        times = _beat_time(grid, np.array([first, first + grid.beats_per_bar]))
        seconds = float(times[1] - times[0])
        bpm = grid.beats_per_bar * 60.0 / seconds if seconds > 0 else grid.tempo_bpm
        bpm = float(np.clip(round(bpm, 1), 20, 400))
        if not changes or abs(changes[-1].tempo_bpm - bpm) > 0.05:
            changes.append(TempoChange.from_bpm(start_tick, bpm))
    return tuple(changes)


def _beat_time(grid: Grid, positions: np.ndarray) -> np.ndarray:
    beats = grid.beats_s
    index = np.arange(beats.size, dtype=np.float64)
    first = beats[0] + (positions - 0) * (beats[1] - beats[0])
    last = beats[-1] + (positions - (beats.size - 1)) * (beats[-1] - beats[-2])
    inside = np.interp(positions, index, beats)
    return np.where(positions < 0, first, np.where(positions > beats.size - 1, last, inside))


@dataclass(frozen=True)
class Placed:
    """Notes on the grid: the quantised song and the untouched performance."""

    song: Song
    performance: Track
    grid: Grid


def place_on_grid(notes: Sequence[NoteEvent], duration_s: float, quantize_ticks: int | None,
                  tempo_bpm: float | None = None, track_name: str = "Transcription",
                  program: int = 0, title: str = "") -> Placed:
    """A Song with tempo, meter and key whose notes sit on the bar grid.

    ``performance`` keeps every note where it was played (same tick scale,
    unquantised); pitch bends of monophonic notes move with their note.
    """
    grid = make_grid(notes, duration_s, tempo_bpm)
    earliest = min((n.onset_s for n in notes), default=0.0)
    pad_beats = grid.pickup_bars(earliest) * grid.beats_per_bar

    def ticks(seconds: np.ndarray | float) -> np.ndarray:
        return np.round((grid.beat_position(seconds) - grid.downbeat + pad_beats) * PPQ)

    performed: list[Note] = []
    bends: list[PitchBend] = []
    for n in notes:
        start, end = (int(t) for t in ticks(np.array([n.onset_s, n.offset_s])))
        start = max(start, 0)
        performed.append(Note(pitch=n.pitch, start_tick=start,
                              duration_ticks=max(end - start, 1), velocity=n.velocity))
    performance = Track(name=f"{track_name} (performance)",
                        notes=tuple(sorted(performed)), program=program)
    quantised = performance if quantize_ticks is None else ops.quantise_track(
        performance, quantize_ticks)
    shift = _note_shifts(performance, quantised)
    performance_bends: list[PitchBend] = []
    for n, played in zip(notes, performed, strict=True):
        if not n.bends:
            continue
        moved = shift.get((played.pitch, played.start_tick), 0)
        bend_ticks = ticks(np.array([time_s for time_s, _ in n.bends]))
        for tick, (_, semitones) in zip(bend_ticks, n.bends, strict=True):
            value = int(np.clip(round(semitones / 2.0 * 8192), -8192, 8191))
            performance_bends.append(PitchBend(max(int(tick), 0), value))
            bends.append(PitchBend(max(int(tick) + moved, 0), value))
        end_tick = max(int(ticks(n.offset_s)), 0)
        performance_bends.append(PitchBend(end_tick, 0))
        bends.append(PitchBend(max(end_tick + moved, 0), 0))
    # Sorted by tick only: at a shared tick, a note's reset stays before the next note's bend.
    performance = replace(performance, pitch_bends=tuple(sorted(performance_bends,
                                                               key=lambda b: b.tick)))
    track = replace(quantised, name=track_name,
                    pitch_bends=tuple(sorted(bends, key=lambda b: b.tick)))
    end_tick = max(track.end_tick, performance.end_tick)
    key = estimate_key(track.notes) if track.notes else None
    song = Song(
        tracks=(track,),
        tempos=_tempo_map(grid, pad_beats, end_tick),
        time_signatures=(TimeSignature(0, grid.beats_per_bar, 4),),
        keys=(key,) if key is not None else (),
        title=title,
    )
    return Placed(song=song, performance=performance, grid=grid)


def _note_shifts(before: Track, after: Track) -> dict[tuple[int, int], int]:
    """How far quantisation moved each note's start, keyed by (pitch, old start)."""
    shifts: dict[tuple[int, int], int] = {}
    by_pitch: dict[int, list[int]] = {}
    for n in after.notes:
        by_pitch.setdefault(n.pitch, []).append(n.start_tick)
    sorted_starts = {p: np.array(sorted(v)) for p, v in by_pitch.items()}
    for n in before.notes:
        starts = sorted_starts.get(n.pitch)
        if starts is None:
            continue
        i = int(np.searchsorted(starts, n.start_tick))
        candidates = starts[max(i - 1, 0):i + 1]
        nearest = int(candidates[np.argmin(np.abs(candidates - n.start_tick))])
        shifts[(n.pitch, n.start_tick)] = nearest - n.start_tick
    return shifts
