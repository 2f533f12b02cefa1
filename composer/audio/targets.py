"""What the network should output for known notes: frame-level training targets.

A rendered session stores its notes and each voice's pitch-bend curve; from
them come, per 16 ms frame, the onset, note-activity and velocity of each key,
and the sounding (bent) pitch of every active note, which the fine-pitch
(contour) head learns as a blurred line at 3 bins per semitone.
"""

from __future__ import annotations

import numpy as np

from composer.audio.features import BINS_PER_SEMITONE, FRAMES_PER_SECOND, LOWEST_MIDI, N_KEYS

MAX_SOUNDING = 12  # fine pitches kept per frame; more simultaneous notes are rare


def frame_of(seconds: float | np.ndarray) -> np.ndarray:
    return np.round(np.asarray(seconds) * FRAMES_PER_SECOND).astype(np.int64)


def session_targets(notes: np.ndarray, bends: np.ndarray, n_frames: int
                    ) -> dict[str, np.ndarray]:
    """Targets for a whole session.

    ``notes`` is (N, 5): pitch, onset_s, offset_s, velocity, voice. ``bends`` is
    (voices, n_frames) in semitones. Returns uint8 ``onset``, ``frame`` (1 or 0)
    and ``velocity`` (0..127) as (n_frames, 88), and ``pitch`` (n_frames,
    MAX_SOUNDING) float16 sounding pitches, NaN where fewer notes sound.
    """
    onset = np.zeros((n_frames, N_KEYS), np.uint8)
    frame = np.zeros((n_frames, N_KEYS), np.uint8)
    velocity = np.zeros((n_frames, N_KEYS), np.uint8)
    pitch = np.full((n_frames, MAX_SOUNDING), np.nan, np.float16)
    count = np.zeros(n_frames, np.int64)
    for p, on_s, off_s, vel, voice in notes:
        key = int(p) - LOWEST_MIDI
        if not 0 <= key < N_KEYS:
            continue
        start = int(frame_of(on_s))
        end = max(int(frame_of(off_s)), start + 1)
        if start >= n_frames:
            continue
        end = min(end, n_frames)
        frame[start:end, key] = 1
        onset[start, key] = 1
        velocity[start, key] = max(velocity[start, key], int(vel))
        span = np.arange(start, end)
        slot = count[span]
        ok = slot < MAX_SOUNDING
        pitch[span[ok], slot[ok]] = p + bends[int(voice), span[ok]]
        count[span[ok]] += 1
    return {"onset": onset, "frame": frame, "velocity": velocity, "pitch": pitch}


def contour_target(pitch: np.ndarray, sigma_bins: float = 1.0) -> np.ndarray:
    """(frames, 88*3) float32: a Gaussian bump (peak 1) at each sounding pitch's bin."""
    n_bins = N_KEYS * BINS_PER_SEMITONE
    frames = pitch.shape[0]
    target = np.zeros((frames, n_bins), np.float32)
    centre = (pitch.astype(np.float32) - LOWEST_MIDI) * BINS_PER_SEMITONE + 1  # (T, K)
    rows, cols = np.nonzero(~np.isnan(centre))
    if rows.size == 0:
        return target
    centres = centre[rows, cols]
    offsets = np.arange(-3, 4)
    bins = np.round(centres)[:, None] + offsets[None, :]  # (M, 7)
    values = np.exp(-0.5 * ((bins - centres[:, None]) / sigma_bins) ** 2)
    ok = (bins >= 0) & (bins < n_bins)
    r = np.broadcast_to(rows[:, None], bins.shape)[ok]
    b = bins[ok].astype(np.int64)
    np.maximum.at(target, (r, b), values[ok].astype(np.float32))
    return target


def bend_frames(bends: list[list[tuple[float, float]]], start_s: float, end_s: float,
                out: np.ndarray) -> None:
    """Write each voice's piecewise-constant bend curve for an excerpt that plays from
    ``start_s`` to ``end_s`` of a session into ``out`` (voices, frames)."""
    last = min(int(frame_of(end_s)), out.shape[1])
    for voice, curve in enumerate(bends):
        for i, (time_s, semitones) in enumerate(curve):
            begin = int(frame_of(time_s + start_s))
            until = int(frame_of(curve[i + 1][0] + start_s)) if i + 1 < len(curve) else last
            if begin >= last:
                break
            out[voice, max(begin, 0):min(until, last)] = semitones
