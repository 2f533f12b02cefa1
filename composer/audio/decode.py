"""From the network's frame-wise probabilities to notes.

Both decoders take the model's output chunk by chunk (``feed``) and hand back
notes at ``finish``, so a three-hour file never needs its whole piano roll in
memory.

* ``PolyDecoder``: a note starts at a peak of a key's onset probability and
  lasts while its frame (note-active) probability stays up; a new onset on a
  sounding key re-strikes it. Notes whose attack the onset head missed (soft
  strings in a reverberant hall) start where the frame probability is
  confidently high for a while.
* ``MonoDecoder``: one line. Per frame it keeps only a few numbers: whether a
  note sounds, the fine pitch (from the contour head, near the key the frame
  head prefers) and the onset strength around that pitch. Notes split at
  onsets, at silences and where the pitch, averaged over about one vibrato
  cycle, moves by most of a semitone; a note's pitch is the median of its fine
  pitch (the midpoint of its quartiles where it wobbles with vibrato), so
  singing 30-50 cents off the grid, slides into notes and vibrato still give
  the nearest note, once. The averaging is a moving median, so a
  frame or two on a harmonic does not cut a note; a cut made by a pitch change
  moves to an onset that follows within the averaging window, and a cut that
  lands back on the same note is undone. Onsets count at the line's own key
  (where the pitch wobbles with vibrato, only a strong one; a faint one can
  be allowed to re-strike a repeated note where the onset floor around it is
  low) and at other keys that go on to sound (a new note whose attack comes
  while the old one still rings louder starts at its attack).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from composer.audio.features import BINS_PER_SEMITONE, FRAMES_PER_SECOND, LOWEST_MIDI


@dataclass(frozen=True)
class NoteEvent:
    """A transcribed note in seconds; ``bends`` are (time_s, semitones off ``pitch``)."""

    pitch: int
    onset_s: float
    offset_s: float
    velocity: int
    bends: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class DecodeConfig:
    """Thresholds of both decoders (probabilities 0..1, times in seconds)."""

    onset_threshold: float = 0.5
    frame_threshold: float = 0.35
    onsetless_threshold: float = 0.8
    onsetless_min_s: float = 0.1
    min_note_s: float = 0.05
    retrigger_gap_s: float = 0.05
    mono_voicing_threshold: float = 0.4
    mono_onset_threshold: float = 0.4
    mono_change_onset_threshold: float = 0.4
    mono_change_frame_threshold: float = 0.5
    mono_background_ratio: float = 0.0
    mono_background_s: float = 1.0
    mono_wobble_semitones: float = 0.12
    mono_wobble_onset_threshold: float = 0.4
    mono_split_semitones: float = 0.75
    mono_smoothing_s: float = 0.18  # about one vibrato cycle
    mono_onset_lookback_s: float = 0.08
    bend_step_semitones: float = 0.03

    def __post_init__(self) -> None:
        for name in ("onset_threshold", "frame_threshold", "onsetless_threshold",
                     "mono_voicing_threshold", "mono_onset_threshold",
                     "mono_change_onset_threshold", "mono_change_frame_threshold",
                     "mono_wobble_onset_threshold"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} {getattr(self, name)} is outside 0..1")
        if self.mono_split_semitones <= 0 or self.min_note_s < 0:
            raise ValueError("mono_split_semitones must be positive and min_note_s not negative")
        if self.mono_background_ratio < 0 or self.mono_background_s <= 0:
            raise ValueError("mono_background_ratio must not be negative nor "
                             "mono_background_s zero")


def _frames(seconds: float) -> int:
    return max(1, round(seconds * FRAMES_PER_SECOND))


class PolyDecoder:
    """Streaming polyphonic note decoding; one frame of look-ahead is held back."""

    def __init__(self, config: DecodeConfig | None = None) -> None:
        self.config = config or DecodeConfig()
        self._done: list[NoteEvent] = []
        self._held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._prev_onset: np.ndarray | None = None
        self._offset = 0  # global frame index of the first held/next frame
        # Per key: start frame of the sounding note (-1 if none), its velocity,
        # the last onset-peak frame and how long the frame prob has been high.
        self._start: np.ndarray | None = None
        self._velocity: np.ndarray | None = None
        self._last_peak: np.ndarray | None = None
        self._high_run: np.ndarray | None = None
        self._polyphony_frames = np.zeros(4, np.int64)  # frames with 0, 1, 2, 3+ notes

    def feed(self, onset: np.ndarray, frame: np.ndarray, velocity: np.ndarray) -> None:
        """Add (frames, keys) probabilities for the next stretch of audio."""
        if onset.shape[0] == 0:
            return
        if self._start is None:
            keys = onset.shape[1]
            self._start = np.full(keys, -1, np.int64)
            self._velocity = np.zeros(keys, np.float32)
            self._last_peak = np.full(keys, -10**9, np.int64)
            self._high_run = np.zeros(keys, np.int64)
            self._prev_onset = np.zeros(keys, np.float32)
        if self._held is not None:
            onset = np.concatenate([self._held[0], onset])
            frame = np.concatenate([self._held[1], frame])
            velocity = np.concatenate([self._held[2], velocity])
        # Keep the last frame back: its peak test needs the frame after it.
        self._held = (onset[-1:], frame[-1:], velocity[-1:])
        self._process(onset, frame, velocity, upto=onset.shape[0] - 1)

    def finish(self) -> list[NoteEvent]:
        """Close every sounding note and return all notes in time order."""
        if self._held is not None and self._start is not None:
            onset, frame, velocity = self._held
            self._held = None
            self._process(onset, frame, velocity, upto=1, last=True)
            for key in np.flatnonzero(self._start >= 0):
                self._close(int(key), self._offset)
        return sorted(self._done, key=lambda n: (n.onset_s, n.pitch))

    @property
    def polyphony(self) -> float:
        """Share of sounding frames with two or more notes."""
        sounding = self._polyphony_frames[1:].sum()
        return float(self._polyphony_frames[2:].sum() / sounding) if sounding else 0.0

    def _process(self, onset: np.ndarray, frame: np.ndarray, velocity: np.ndarray,
                 upto: int, last: bool = False) -> None:
        cfg = self.config
        assert self._start is not None and self._velocity is not None
        assert self._last_peak is not None and self._high_run is not None
        assert self._prev_onset is not None
        gap = _frames(cfg.retrigger_gap_s)
        onsetless = _frames(cfg.onsetless_min_s)
        for t in range(upto):
            now = self._offset + t
            current = onset[t]
            after = onset[t + 1] if t + 1 < onset.shape[0] else np.zeros_like(current)
            peaks = ((current >= cfg.onset_threshold) & (current >= self._prev_onset)
                     & (current > after) & (now - self._last_peak >= gap))
            self._prev_onset = current
            # The onset head leads the frame head on sharp attacks; either keeps a note on.
            active = (frame[t] >= cfg.frame_threshold) | (current >= cfg.onset_threshold)
            for key in np.flatnonzero(peaks):
                if self._start[key] >= 0:
                    self._close(int(key), now)
                self._start[key] = now
                self._velocity[key] = velocity[t, key]
                self._last_peak[key] = now
            # Notes end where the key's frame probability falls (never on their
            # own onset frame: a sharp attack can lead the frame head).
            ending = (self._start >= 0) & ~active & ~peaks & (self._start < now)
            for key in np.flatnonzero(ending):
                self._close(int(key), now)
            high = frame[t] >= cfg.onsetless_threshold
            self._high_run = np.where(high & (self._start < 0), self._high_run + 1, 0)
            for key in np.flatnonzero(self._high_run >= onsetless):
                self._start[key] = now - onsetless + 1
                self._velocity[key] = velocity[t, key]
                self._high_run[key] = 0
            count = int((self._start >= 0).sum())
            self._polyphony_frames[min(count, 3)] += 1
        self._offset += upto

    def _close(self, key: int, end_frame: int) -> None:
        assert self._start is not None and self._velocity is not None
        start = int(self._start[key])
        self._start[key] = -1
        if (end_frame - start) / FRAMES_PER_SECOND < self.config.min_note_s:
            return
        self._done.append(NoteEvent(
            pitch=LOWEST_MIDI + key,
            onset_s=start / FRAMES_PER_SECOND,
            offset_s=end_frame / FRAMES_PER_SECOND,
            velocity=int(np.clip(round(float(self._velocity[key]) * 127), 1, 127)),
        ))


class MonoDecoder:
    """One melodic line with fine pitch; keeps a few numbers per frame until ``finish``."""

    def __init__(self, config: DecodeConfig | None = None) -> None:
        self.config = config or DecodeConfig()
        self._voicing: list[np.ndarray] = []
        self._pitch: list[np.ndarray] = []
        self._onset: list[np.ndarray] = []
        self._change_onset: list[np.ndarray] = []
        self._velocity: list[np.ndarray] = []

    def feed(self, onset: np.ndarray, frame: np.ndarray, velocity: np.ndarray,
             contour: np.ndarray) -> None:
        """Add (frames, keys) onset/frame/velocity and (frames, bins) contour probabilities."""
        frames, keys = frame.shape
        if frames == 0:
            return
        rows = np.arange(frames)
        key = frame.argmax(axis=1)
        # A note sung between two keys splits its probability between them.
        padded_frame = np.pad(frame, ((0, 0), (1, 1)))
        around = padded_frame[rows, key] + padded_frame[rows, key + 1] + padded_frame[rows, key + 2]
        self._voicing.append(np.minimum(around, 1.0).astype(np.float32))
        self._pitch.append(fine_pitch(contour, key).astype(np.float32))
        # Onset strength at the chosen key and its neighbours (a sharp or flat
        # note can light up the key next to it).
        padded = np.pad(onset, ((0, 0), (1, 1)))
        near = np.stack([padded[rows, key], padded[rows, key + 1], padded[rows, key + 2]])
        self._onset.append(near.max(axis=0).astype(np.float32))
        # An attack at another key: reverb or a slow build-up can keep the old
        # note the likeliest for a while after the new one starts, and its
        # onset, away from the argmax, would go unseen. Only keys that go on
        # to sound (frame probability up within three frames of this chunk)
        # count, so a flicker on a harmonic does not.
        soon = frame.copy()
        for lag in (1, 2, 3):
            soon[:-lag] = np.maximum(soon[:-lag], frame[lag:])
        away = np.abs(np.arange(keys)[None, :] - key[:, None]) >= 2
        sounding = soon >= self.config.mono_change_frame_threshold
        self._change_onset.append(np.where(away & sounding, onset, 0.0).max(axis=1)
                                  .astype(np.float32))
        self._velocity.append(velocity[rows, key].astype(np.float32))

    def finish(self, keep_bends: bool = False) -> list[NoteEvent]:
        if not self._voicing:
            return []
        cfg = self.config
        voicing = np.concatenate(self._voicing)
        pitch = np.concatenate(self._pitch)
        # One moving median for both the vibrato guard and the line's splits
        # (over a long recording it is the costliest step of mono decoding).
        voiced_pitch = np.where(voicing >= cfg.mono_voicing_threshold, pitch, np.nan)
        smooth = _moving_median(voiced_pitch, _frames(cfg.mono_smoothing_s))
        onset = line_onsets(np.concatenate(self._onset), np.concatenate(self._change_onset),
                            cfg, voiced_pitch, smooth)
        velocity = np.concatenate(self._velocity)
        return segment_line(voicing, pitch, onset, velocity, cfg, keep_bends, smooth)


def decode_probabilities(probs: dict[str, np.ndarray], mode: str,
                         config: DecodeConfig | None = None) -> list[NoteEvent]:
    """Notes from one stretch of stored network output (``mode`` mono or poly):
    decoder tuning re-decodes the same probabilities under many settings."""
    if mode == "mono":
        mono = MonoDecoder(config)
        mono.feed(probs["onset"], probs["frame"], probs["velocity"], probs["contour"])
        return mono.finish()
    poly = PolyDecoder(config)
    poly.feed(probs["onset"], probs["frame"], probs["velocity"])
    return poly.finish()


def line_onsets(own: np.ndarray, change: np.ndarray, config: DecodeConfig,
                pitch: np.ndarray | None = None, smooth: np.ndarray | None = None
                ) -> np.ndarray:
    """One onset strength per frame for ``segment_line``, on the scale of
    ``mono_onset_threshold``: at or above it where the onset at the line's own
    key clears both that threshold and ``mono_background_ratio`` times the
    onset head's background level (its 75th percentile over about
    ``mono_background_s``), or where an onset at another key clears
    ``mono_change_onset_threshold``.

    The background matters for repeated notes: a re-struck note shows only a
    faint onset at its key (a wind player's tongued repeat), so the threshold
    is low, but reverb raises the onset head's floor inside held notes, and a
    fixed low threshold would split them. So does a singer's vibrato: where
    the fine ``pitch`` (NaN where unvoiced) wobbles by ``mono_wobble_semitones``
    (RMS about its moving median) or more, an onset at the line's own key must
    clear ``mono_wobble_onset_threshold`` instead. ``smooth`` is that moving
    median when the caller has it already.
    """
    from scipy.ndimage import percentile_filter

    cfg = config
    floor = np.full(own.shape, cfg.mono_onset_threshold, np.float32)
    if cfg.mono_background_ratio > 0 and own.size:
        size = max(1, _frames(cfg.mono_background_s))
        background = percentile_filter(own, 75, size=size, mode="nearest")
        floor = np.maximum(floor, cfg.mono_background_ratio * background)
    if pitch is not None and own.size:
        window = _frames(cfg.mono_smoothing_s)
        if smooth is None:
            smooth = _moving_median(pitch, window)
        deviation = pitch - smooth
        wobble = np.sqrt(_moving_average(deviation ** 2, 2 * window))
        with np.errstate(invalid="ignore"):
            wobbly = wobble >= cfg.mono_wobble_semitones
        floor = np.where(wobbly, np.maximum(floor, cfg.mono_wobble_onset_threshold), floor)
    return cfg.mono_onset_threshold * np.maximum(
        own / floor, change / cfg.mono_change_onset_threshold)


def fine_pitch(contour: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Fine MIDI pitch per frame: the contour's peak within a semitone and a half of
    ``key``'s bin, refined by fitting a parabola through the peak and its neighbours."""
    frames, n_bins = contour.shape
    centre = key * BINS_PER_SEMITONE + 1
    offsets = np.arange(-4, 5)
    bins = np.clip(centre[:, None] + offsets[None, :], 0, n_bins - 1)  # (T, 9)
    values = contour[np.arange(frames)[:, None], bins]
    best = values.argmax(axis=1)
    peak_bin = bins[np.arange(frames), best].astype(np.float64)
    left = contour[np.arange(frames), np.clip(peak_bin.astype(int) - 1, 0, n_bins - 1)]
    mid = contour[np.arange(frames), peak_bin.astype(int)]
    right = contour[np.arange(frames), np.clip(peak_bin.astype(int) + 1, 0, n_bins - 1)]
    denominator = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(denominator) > 1e-6, 0.5 * (left - right) / denominator, 0.0)
    shift = np.clip(shift, -0.5, 0.5)
    return LOWEST_MIDI + (peak_bin + shift - 1) / BINS_PER_SEMITONE


def segment_line(voicing: np.ndarray, pitch: np.ndarray, onset: np.ndarray,
                 velocity: np.ndarray, config: DecodeConfig, keep_bends: bool = False,
                 smooth: np.ndarray | None = None) -> list[NoteEvent]:
    """Cut a fine-pitch line into notes (see the module docstring); ``smooth`` is
    the voiced pitch's moving median when the caller has it already."""
    cfg = config
    frames = voicing.size
    voiced = voicing >= cfg.mono_voicing_threshold
    window = _frames(cfg.mono_smoothing_s)
    if smooth is None:
        smooth = _moving_median(np.where(voiced, pitch, np.nan), window)
    before = np.concatenate([[0.0], onset[:-1]])
    after = np.concatenate([onset[1:], [0.0]])
    peaks = (onset >= cfg.mono_onset_threshold) & (onset >= before) & (onset > after)
    gap = _frames(cfg.retrigger_gap_s)
    split_run = max(2, window // 3)
    # The onset head fires on the attack, the frame head once the tone has built
    # up (later for bowed and blown sounds): a note that starts from silence
    # starts at an onset peak this recent, if there is one.
    lookback = _frames(cfg.mono_onset_lookback_s)

    notes: list[NoteEvent] = []
    spans: list[tuple[int, int]] = []  # (start, end) frames of each note in ``notes``
    start = -1
    last_peak = -(10 ** 9)
    recent_peak = -(10 ** 9)  # the last onset peak, voiced or not
    drift = 0
    # True while the current note began where a pitch change cut the one before
    # (no onset): such a cut is only an estimate, and an onset or the pitch
    # the new note settles on may show it was in the wrong place.
    from_cut = False
    # Where the current note's own pitch begins: its start, unless it began at
    # an onset while the note before still rang louder (see below).
    body = -1

    def follows_cut() -> bool:
        return from_cut and bool(spans) and spans[-1][1] == start

    def extend_previous(end: int) -> None:
        first = spans[-1][0]
        notes[-1] = _mono_note(first, end, pitch, velocity, cfg, keep_bends)
        spans[-1] = (first, end)

    def close(end: int) -> None:
        if start < 0 or end <= start:
            return
        if follows_cut() and _mono_note(start, end, pitch, velocity, cfg,
                                        False).pitch == notes[-1].pitch:
            extend_previous(end)  # the "change" came back to the same note
            return
        if (end - start) / FRAMES_PER_SECOND < cfg.min_note_s:
            return
        notes.append(_mono_note(start, end, pitch, velocity, cfg, keep_bends))
        spans.append((start, end))

    for t in range(frames):
        if peaks[t]:
            recent_peak = t
        if not voiced[t]:
            close(t)
            start, from_cut = -1, False
            continue
        if start < 0:
            start, drift, from_cut = t, 0, False
            ended = spans[-1][1] if spans else -1
            if t - recent_peak <= lookback and recent_peak >= ended:
                start = last_peak = recent_peak
            body = start
            continue
        if peaks[t] and t - last_peak >= gap and follows_cut() and t - start < window:
            # The pitch moved just before this onset (the smoothed pitch looks
            # ahead half a window): the new note starts at the onset.
            extend_previous(t)
            start, body, drift, last_peak, from_cut = t, t, 0, t, False
            continue
        if peaks[t] and t - last_peak >= gap and t - start >= gap:
            close(t)
            start, body, drift, last_peak, from_cut = t, t, 0, t, False
            continue
        # The note's own centre so far (skipping a possible slide at its start);
        # once it has a few vibrato cycles behind it, it stays put.
        settle = body + min(window // 2, max((t - body) // 2, 0))
        centre = float(np.median(pitch[settle:min(t + 1, settle + 4 * window)]))
        if np.isfinite(smooth[t]) and abs(smooth[t] - centre) >= cfg.mono_split_semitones:
            drift += 1
            if drift >= split_run:
                cut = t - drift + 1
                if (body == start == last_peak and spans and spans[-1][1] == start
                        and cut - start <= 2 * window
                        and _mono_note(start, cut, pitch, velocity, cfg,
                                       False).pitch == notes[-1].pitch):
                    # This note began at an onset, but the one before rang on
                    # louder (reverb, a slow attack): the pitch it moves to now
                    # is its own, and it keeps its onset.
                    body, drift = cut, 0
                    continue
                close(cut)
                start, body, drift, from_cut = cut, cut, 0, True
        else:
            drift = 0
    close(frames)
    return notes


def _mono_note(start: int, end: int, pitch: np.ndarray, velocity: np.ndarray,
               cfg: DecodeConfig, keep_bends: bool) -> NoteEvent:
    length = end - start
    # A slide into the note is not its pitch: skip the first fifth when there is room.
    body = pitch[start + length // 5:end] if length >= 10 else pitch[start:end]
    centre = _note_centre(body, cfg)
    midi = int(np.clip(round(centre), 0, 127))
    bends: list[tuple[float, float]] = []
    if keep_bends:
        last = None
        smoothed = _moving_average(pitch[start:end], 3)
        for i, value in enumerate(smoothed):
            deviation = float(np.clip(value - midi, -2.0, 2.0))
            if last is None or abs(deviation - last) >= cfg.bend_step_semitones:
                bends.append(((start + i) / FRAMES_PER_SECOND, round(deviation, 3)))
                last = deviation
    return NoteEvent(
        pitch=midi,
        onset_s=start / FRAMES_PER_SECOND,
        offset_s=end / FRAMES_PER_SECOND,
        velocity=int(np.clip(round(float(velocity[start:start + 3].max()) * 127), 1, 127)),
        bends=tuple(bends),
    )


def _note_centre(body: np.ndarray, config: DecodeConfig) -> float:
    """A note's pitch from its fine pitch: the median, which a glide from the
    note before or a frame or two on a harmonic does not move; but where the
    pitch wobbles with vibrato (``mono_wobble_semitones`` RMS about its moving
    median), the midpoint of the quartiles. A vibrato's pitch spends most of
    its time near its two extremes, so the median of a wide vibrato 40 cents
    off the grid can land on either side of the halfway point; the quartiles
    sit where the pitch dwells, evenly about the centre."""
    window = _frames(config.mono_smoothing_s)
    if body.size >= 2 * window:
        wobble = np.sqrt(np.mean((body - _moving_median(body, window)) ** 2))
        if wobble >= config.mono_wobble_semitones:
            low, high = np.percentile(body, [25, 75])
            return float((low + high) / 2)
    return float(np.median(body))


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average that ignores NaN (NaN where the window has no values)."""
    if window <= 1 or values.size == 0:
        return values.astype(np.float64)
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    kernel = np.ones(window)
    total = np.convolve(filled, kernel, mode="same")
    count = np.convolve(finite.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _moving_median(values: np.ndarray, window: int, block: int = 65_536) -> np.ndarray:
    """Centred moving median that ignores NaN (NaN where the window has no values).

    Unlike a mean it follows vibrato's centre without being dragged by a frame
    or two of a wrong octave or harmonic. Worked out a block at a time, so a
    long recording needs no (frames, window) array.
    """
    if window <= 1 or values.size == 0:
        return values.astype(np.float64)
    half = window // 2
    padded = np.pad(values.astype(np.float64), (half, window - 1 - half),
                    constant_values=np.nan)
    out = np.empty(values.size, np.float64)
    for start in range(0, values.size, block):
        end = min(start + block, values.size)
        view = np.lib.stride_tricks.sliding_window_view(padded[start:end + window - 1], window)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN
            out[start:end] = np.nanmedian(view, axis=1)
    return out
