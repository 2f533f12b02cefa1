"""The melody tokenizer's REMI encoding in numpy, for corpus builds.

miditok builds a Python ``Event`` object per token and walks them one by one:
about 4 ms for a typical melody, most of a corpus build. This module computes
the same ids from the note arrays of the score :func:`composer.io.tokens.melody_to_score`
makes. miditok stays the definition: the arithmetic below follows its
``preprocess_score`` and ``REMI._add_time_events`` for exactly the melody
configuration (no velocities, rests, tempos or programs; time and key
signatures; a 12-per-beat grid), and tests compare the two id for id.

What it does not handle it refuses (:class:`Unsupported`, with the reason) and
:func:`encode_melody_fast` hands the score to miditok instead:
- meters over more than one note value (4/4 then 6/8): miditok then
  re-grids every section, a path this module does not reproduce;
- a track with no note in the pitch range, notes before tick 0, key
  signatures in the score (ours never carries one), other tokenizer configs.

Why the key signature needs no code: miditok adds a default ``KeySig`` at
tick 0 with its own ``Position``; :func:`composer.io.tokens._without_inline_keys`
removes both, which leaves what the stream would be without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from composer.core.song import Song

# By id, with the tokenizer kept alive so its id is never reused.
_ENCODERS: dict[int, tuple[Any, FastRemiEncoder | None]] = {}


class Unsupported(Exception):
    """A score this encoder does not handle; miditok encodes it instead."""


@dataclass(frozen=True)
class FastRemiEncoder:
    """Id tables taken from one miditok REMI tokenizer (its vocabulary and duration grid)."""

    bar_id: int
    position_ids: Any  # (max positions a bar,) int64: id of Position_i
    pitch_ids: Any  # (128,) int64: id of Pitch_p, -1 outside the range
    pitch_range: tuple[int, int]
    duration_ticks: Any  # (D,) the Duration tokens' lengths at 12 ticks a beat, ascending
    duration_ids: Any  # (D,) their ids
    meter_ids: dict[tuple[int, int], int]
    steps_per_beat: int

    @staticmethod
    def of(tokenizer) -> FastRemiEncoder | None:
        """The encoder for ``tokenizer``, or None when its config is not the one handled."""
        import numpy as np

        config = tokenizer.config
        extras = config.additional_params
        handled = (
            type(tokenizer).__name__ == "REMI" and not tokenizer.is_trained
            and config.use_time_signatures and config.use_key_signatures
            and not any((config.use_velocities, config.use_rests, config.use_tempos,
                         config.use_programs, config.use_chords, config.use_pitch_intervals,
                         config.use_sustain_pedals, config.use_pitch_bends,
                         config.use_control_changes, config.remove_duplicated_notes,
                         config.delete_equal_successive_time_sig_changes,
                         tokenizer.attribute_controls, getattr(tokenizer, "_note_on_off", True)))
            and extras.get("max_bar_embedding") is None
            and not extras.get("use_bar_end_tokens") and not extras.get("add_trailing_bars")
            and 0 in config.use_note_duration_programs
        )
        steps = int(config.max_num_pos_per_beat)
        if not handled or steps not in tokenizer._tpb_to_time_array:
            return None
        vocab = tokenizer.vocab
        positions = [vocab.get(f"Position_{i}") for i in range(len(vocab))]
        count = positions.index(None) if None in positions else len(positions)
        low, high = config.pitch_range
        pitch_ids = np.full(128, -1, dtype=np.int64)
        for pitch in range(low, high + 1):
            pitch_ids[pitch] = vocab[f"Pitch_{pitch}"]
        ticks = np.asarray(tokenizer._tpb_to_time_array[steps])
        names = tokenizer._tpb_ticks_to_tokens[steps]
        duration_ids = np.array([vocab[f"Duration_{names[int(t)]}"] for t in ticks],
                                dtype=np.int64)
        meters = {}
        for token, index in vocab.items():
            if token.startswith("TimeSig_"):
                numerator, denominator = token.removeprefix("TimeSig_").split("/")
                meters[(int(numerator), int(denominator))] = index
        return FastRemiEncoder(vocab["Bar_None"], np.array(positions[:count], dtype=np.int64),
                               pitch_ids, (low, high), ticks, duration_ids, meters, steps)

    # --------------------------------------------------------------- encoding

    def encode(self, score) -> list[int]:
        """REMI ids of a one-track score (as miditok gives them, inline keys dropped)."""
        import numpy as np

        if len(score.tracks) != 1 or len(score.key_signatures):
            raise Unsupported("not one track without key signatures")
        if not len(score.tracks[0].notes):
            raise Unsupported("no notes")
        meters = self._meters(score)
        denominator = meters[0][2]
        tpq = self.steps_per_beat * denominator // 4  # miditok's grid: a beat in 12 ticks
        meters = self._delay_meters(meters, tpq)
        notes = score.resample(tpq, min_dur=1).tracks[0].notes.numpy()
        pitch = notes["pitch"].astype(np.int64)
        keep = (pitch >= self.pitch_range[0]) & (pitch <= self.pitch_range[1])
        if not keep.any():
            raise Unsupported("no notes in the pitch range")
        time = notes["time"].astype(np.int64)[keep]
        duration = notes["duration"].astype(np.int64)[keep]
        pitch = pitch[keep]
        if time.min() < 0:
            raise Unsupported("notes before the start")
        order = np.argsort(time, kind="stable")  # as miditok's sort of events by time
        time, duration, pitch = time[order], duration[order], pitch[order]

        starts = np.array([m[0] for m in meters], dtype=np.int64)
        bar_ticks = np.array([m[1] * self.steps_per_beat for m in meters], dtype=np.int64)
        meter_ids = np.array([self.meter_ids[(m[1], m[2])] for m in meters], dtype=np.int64)
        first_bars = np.zeros(len(meters), dtype=np.int64)  # bar number where each meter starts
        first_bars[1:] = np.cumsum(np.diff(starts) // bar_ticks[:-1])

        section = np.searchsorted(starts, time, side="right") - 1
        offset = time - starts[section]
        bar = first_bars[section] + offset // bar_ticks[section]
        position = offset % bar_ticks[section]
        onset = np.ones(len(time), dtype=np.int64)
        onset[1:] = time[1:] != time[:-1]

        # Every bar up to the last note or meter change: Bar, TimeSig; every onset:
        # Position; every note: Pitch, Duration.
        bars = int(max(bar[-1], first_bars[-1])) + 1
        note_tokens = 2 + onset
        before = np.cumsum(note_tokens) - note_tokens  # note tokens ahead of each note
        at = before + 2 * (bar + 1)
        total = np.zeros(len(time) + 1, dtype=np.int64)
        np.cumsum(note_tokens, out=total[1:])
        bar_at = 2 * np.arange(bars) + total[np.searchsorted(bar, np.arange(bars), side="left")]
        ids = np.empty(2 * bars + int(note_tokens.sum()), dtype=np.int64)
        ids[bar_at] = self.bar_id
        ids[bar_at + 1] = meter_ids[np.searchsorted(first_bars, np.arange(bars), side="right") - 1]
        firsts = onset.astype(bool)
        ids[at[firsts]] = self.position_ids[position[firsts]]
        ids[at + onset] = self.pitch_ids[pitch]
        ids[at + onset + 1] = self.duration_ids[_closest(self.duration_ticks, duration)]
        return ids.tolist()

    def _meters(self, score) -> list[list[int]]:
        """The score's meters the tokenizer knows, at the score's ticks, 4/4 at 0 if none."""
        meters = [[int(ts.time), int(ts.numerator), int(ts.denominator)]
                  for ts in score.time_signatures
                  if (int(ts.numerator), int(ts.denominator)) in self.meter_ids]
        if not meters or meters[0][0] != 0:
            meters.insert(0, [0, 4, 4])
        if len({m[2] for m in meters}) > 1:
            raise Unsupported("meters over different note values")
        if any(meters[i][0] > meters[i + 1][0] for i in range(len(meters) - 1)):
            raise Unsupported("meters out of order")
        factor = (self.steps_per_beat * meters[0][2] // 4) / score.ticks_per_quarter
        if factor != 1:
            import numpy as np

            # As miditok: times scaled in float and truncated to int32.
            times = (np.array([m[0] for m in meters], dtype=np.int32) * factor).astype(np.int32)
            for meter, tick in zip(meters, times.tolist(), strict=True):
                meter[0] = tick
        return meters

    def _delay_meters(self, meters: list[list[int]], tpq: int) -> list[list[int]]:
        """miditok's ``_preprocess_time_signatures``: a change moves to the next bar
        line; repeats and changes at one tick merge."""
        def bar_length(meter: list[int]) -> int:
            beat = tpq if meter[2] == 4 else int(tpq * (4 / meter[2]))
            return int(beat * meter[1])

        i, previous_tick, ticks_per_bar = 0, 0, bar_length(meters[0])
        while i < len(meters):
            if i >= 1 and meters[i][1:] == meters[i - 1][1:]:
                del meters[i]
                continue
            if i >= 1 and meters[i][0] < meters[i - 1][0]:
                meters[i][0] = meters[i - 1][0]
            bars, rest = divmod(meters[i][0] - previous_tick, ticks_per_bar)
            if rest > 0:
                meters[i][0] = previous_tick + (bars + 1) * ticks_per_bar
            ticks_per_bar, previous_tick = bar_length(meters[i]), meters[i][0]
            if i >= 1 and meters[i][0] == meters[i - 1][0]:
                del meters[i - 1]
                if i >= 2 and meters[i - 1][1:] == meters[i - 2][1:]:
                    del meters[i - 1]
                    ticks_per_bar, previous_tick = bar_length(meters[i - 2]), meters[i - 2][0]
                    i -= 1
                continue
            i += 1
        if meters[0][0] != 0:
            meters.insert(0, [0, 4, 4])
            if meters[1][2] != 4:
                raise Unsupported("meters over different note values")
        return meters


def _closest(grid, values):
    """Index of the nearest grid value to each value (miditok's ``np_get_closest``:
    a tie goes to the larger)."""
    import numpy as np

    index = np.searchsorted(grid, values, side="left")
    lower = np.fabs(values - grid[np.maximum(index - 1, 0)])
    upper = np.fabs(values - grid[np.minimum(index, len(grid) - 1)])
    index[(index == len(grid)) | (lower < upper)] -= 1
    return index


def encoder_for(tokenizer) -> FastRemiEncoder | None:
    """The encoder of a tokenizer, built once per tokenizer object."""
    key = id(tokenizer)
    if key not in _ENCODERS:
        _ENCODERS[key] = (tokenizer, FastRemiEncoder.of(tokenizer))
    return _ENCODERS[key][1]


def encode_melody_fast(tokenizer, song: Song, track_index: int = 0
                       ) -> tuple[list[int], str | None]:
    """:func:`composer.io.tokens.encode_melody`, vectorised where it can be.

    Returns the ids and None, or the ids miditok gave and why the fast encoder
    passed the melody on.
    """
    from composer.io.tokens import check_melody, encode_score, melody_to_score

    track = song.tracks[track_index]
    if not track.notes:
        return [], None
    check_melody(tokenizer, song, track)
    score = melody_to_score(song, track)
    encoder = encoder_for(tokenizer)
    if encoder is None:
        return encode_score(tokenizer, score), "another tokenizer configuration"
    try:
        return encoder.encode(score), None
    except Unsupported as err:
        return encode_score(tokenizer, score), str(err)
