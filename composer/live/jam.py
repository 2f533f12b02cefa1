"""Jam modes: call and response, live harmoniser, record; and the loop that runs them.

An engine turns timestamped input into messages on a :class:`Scheduler`
(send now, or at a clock time) and is driven by :class:`JamSession`, whose
loop waits on the input port until the next message arrives or the next
scheduled one falls due. Engines never sleep and never read the clock
themselves: every call gets the time, so their arithmetic is tested with a
manual clock, and the same engines run over real ports.

The generators are parameters: a *responder* (``phrase, from_tick, cancel ->
notes``) for call and response, and a *harmonizer* (``note_on(pitch,
velocity) -> pitches``, ``note_off(pitch)``, ``reset()``) for the harmoniser.
The services layer builds them from the trained models.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from composer.core.ops import quantise_track
from composer.core.song import PPQ, Note, Song, TempoChange, TimeSignature, Track
from composer.core.timing import TempoMap
from composer.live.clock import ClockFollower, ClockMaster
from composer.live.midi import (
    TimedMessage,
    is_note_off,
    is_note_on,
    note_off,
    note_on,
)
from composer.live.ports import InputPort, OutputPort, PortEvent
from composer.live.recorder import METRONOME_ACCENT, METRONOME_BEAT, Take, TakeRecorder

log = logging.getLogger(__name__)

Responder = Callable[[Song, int, threading.Event], list[Note]]
"""Continues a phrase: ``(phrase song, from_tick, cancel) -> new notes at ticks >= from_tick``."""


class Harmonizer(Protocol):
    def note_on(self, pitch: int, velocity: int) -> list[int]: ...
    def note_off(self, pitch: int) -> None: ...
    def reset(self) -> None: ...


@dataclass(frozen=True)
class JamEvent:
    """Something the player should see: a phrase heard, a response coming, a port lost."""

    kind: str
    time: float
    text: str = ""
    data: dict[str, Any] | None = None


EventSink = Callable[[JamEvent], None]


# ------------------------------------------------------------ time and beats


class BeatGrid:
    """Where beats and bars fall in clock time: a tempo, a meter and an origin.

    The origin is the clock time of tick 0; left unset, the first note played
    sets it (the player's first note is a downbeat). A grid following MIDI
    clock or leading it takes its times from the follower or the master.
    """

    def __init__(
        self,
        tempo_bpm: float = 120.0,
        meter: TimeSignature | None = None,
        origin: float | None = None,
        follower: ClockFollower | None = None,
        master: ClockMaster | None = None,
    ) -> None:
        if not 20.0 <= tempo_bpm <= 400.0:
            raise ValueError(f"tempo {tempo_bpm:g} BPM is outside 20..400")
        self.fixed_tempo_bpm = tempo_bpm
        self.meter = meter or TimeSignature(0, 4, 4)
        self.origin = origin
        self.follower = follower
        self.master = master

    @property
    def tempo_bpm(self) -> float:
        if self.master is not None:
            return self.master.tempo_bpm
        if self.follower is not None and self.follower.plausible and self.follower.tempo_bpm:
            return self.follower.tempo_bpm
        return self.fixed_tempo_bpm

    @property
    def beat_ticks(self) -> int:
        return self.meter.beat_ticks

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.tempo_bpm * self.beat_ticks / PPQ

    def anchor(self, when: float) -> None:
        if self.origin is None and self.master is None:
            self.origin = when

    def tick_at(self, when: float) -> float:
        if self.master is not None and self.master.started_at is not None:
            return self.master.tick_at(when)
        if self.follower is not None and self.follower.plausible:
            tick = self.follower.tick_at(when)
            if tick is not None:
                return tick
        origin = when if self.origin is None else self.origin
        return (when - origin) * self.tempo_bpm * PPQ / 60.0

    def time_of_tick(self, tick: float) -> float:
        if self.master is not None and self.master.started_at is not None:
            return self.master.time_of_tick(tick)
        if self.follower is not None and self.follower.plausible:
            when = self.follower.time_of_tick(tick)
            if when is not None:
                return when
        origin = 0.0 if self.origin is None else self.origin
        return origin + tick * 60.0 / (self.tempo_bpm * PPQ)

    def next_beat(self, when: float) -> tuple[float, int]:
        """The first beat at or after ``when``: (clock time, tick)."""
        tick = self.tick_at(when)
        beat = math.ceil(tick / self.beat_ticks - 1e-9) * self.beat_ticks
        return self.time_of_tick(beat), beat

    def next_bar(self, when: float) -> tuple[float, int]:
        tick = self.tick_at(when)
        bar = math.ceil(tick / self.meter.bar_ticks - 1e-9) * self.meter.bar_ticks
        return self.time_of_tick(bar), bar


# ------------------------------------------------------------ output scheduling


class Scheduler:
    """Messages due at clock times, sent by the session loop when due (tag to cancel)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any, str]] = []
        self._serial = itertools.count()

    def send(self, msg: Any, tag: str = "") -> None:
        """Send as soon as the loop gets to it."""
        self.at(-math.inf, msg, tag)

    def at(self, when: float, msg: Any, tag: str = "") -> None:
        heapq.heappush(self._heap, (when, next(self._serial), msg, tag))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[Any]:
        out = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def cancel(self, tag: str) -> list[Any]:
        """Remove every message with ``tag``; returns them (their note-offs may still be owed)."""
        kept: list[tuple[float, int, Any, str]] = []
        removed: list[tuple[float, int, Any, str]] = []
        for item in self._heap:
            (removed if item[3] == tag else kept).append(item)
        heapq.heapify(kept)
        self._heap = kept
        return [item[2] for item in sorted(removed)]

    def pending(self) -> list[tuple[float, Any]]:
        return [(item[0], item[2]) for item in sorted(self._heap)]

    def __len__(self) -> int:
        return len(self._heap)


class Voices:
    """Reference-counted notes on the output, so two held melody notes that share a
    harmony pitch do not cut each other off: the note sounds until both let go."""

    def __init__(self, out: Scheduler) -> None:
        self.out = out
        self._count: Counter[tuple[int, int]] = Counter()

    def on(self, channel: int, pitch: int, velocity: int) -> None:
        key = (channel, pitch)
        if self._count[key] > 0:
            self.out.send(note_off(channel, pitch))  # restrike: a synth needs the off first
        self._count[key] += 1
        self.out.send(note_on(channel, pitch, velocity))

    def off(self, channel: int, pitch: int) -> None:
        key = (channel, pitch)
        if self._count[key] <= 0:
            return
        self._count[key] -= 1
        if self._count[key] == 0:
            del self._count[key]
            self.out.send(note_off(channel, pitch))

    def all_off(self) -> None:
        for channel, pitch in sorted(self._count):
            self.out.send(note_off(channel, pitch))
        self._count.clear()

    def __len__(self) -> int:
        return len(self._count)


# ------------------------------------------------------------ engines


class JamEngine:
    """Base: thru (input passed to the output) and the hooks the session calls."""

    name = "jam"

    def __init__(self, thru: bool = True) -> None:
        self.thru = thru
        self.events: list[JamEvent] = []
        self.on_event: EventSink | None = None
        self.errors = 0

    def bind(self, out: Scheduler) -> None:
        """Called once by the session before the first message."""
        self.out = out
        self.voices = Voices(out)

    def start(self, now: float) -> None:
        pass

    def handle(self, timed: TimedMessage) -> None:
        msg = timed.message
        if is_note_on(msg):
            self.note_on(timed.time, msg.channel, msg.note, msg.velocity)
        elif is_note_off(msg):
            self.note_off(timed.time, msg.channel, msg.note)
        elif self.thru and msg.type not in ("clock", "start", "stop", "continue", "songpos"):
            self.out.send(msg)  # controllers, bends, SysEx: passed through untouched

    def note_on(self, now: float, channel: int, pitch: int, velocity: int) -> None:
        if self.thru:
            self.voices.on(channel, pitch, velocity)

    def note_off(self, now: float, channel: int, pitch: int) -> None:
        if self.thru:
            self.voices.off(channel, pitch)

    def tick(self, now: float) -> None:
        """Called at every loop turn and at ``wakeup()``."""

    def wakeup(self) -> float | None:
        """Clock time at which ``tick`` must run next (None: only on input)."""
        return None

    def release_all(self, now: float) -> None:
        """The input vanished: its note-offs will never come, so end its notes now."""
        self.voices.all_off()

    def stop(self, now: float) -> None:
        self.release_all(now)

    def emit(self, kind: str, when: float, text: str = "", **data: Any) -> None:
        event = JamEvent(kind, when, text, data or None)
        self.events.append(event)
        if len(self.events) > 1000:  # a long jam keeps only the recent history
            del self.events[:500]
        if self.on_event is not None:
            self.on_event(event)


class HarmonizerEngine(JamEngine):
    """Every melody note comes out with its harmony notes, for as long as it is held."""

    name = "harmonize"

    def __init__(
        self,
        harmonizer: Harmonizer,
        thru: bool = True,
        harmony_channel: int | None = None,
        harmony_velocity: float = 0.85,
    ) -> None:
        super().__init__(thru)
        self.harmonizer = harmonizer
        self.harmony_channel = harmony_channel
        self.harmony_velocity = harmony_velocity
        self._held: dict[tuple[int, int], tuple[int, list[int]]] = {}

    def note_on(self, now: float, channel: int, pitch: int, velocity: int) -> None:
        key = (channel, pitch)
        if key in self._held:  # struck again without a note-off in between
            self.note_off(now, channel, pitch)
        super().note_on(now, channel, pitch, velocity)
        try:
            harmony = [
                int(p) for p in self.harmonizer.note_on(pitch, velocity) if 0 <= int(p) <= 127
            ]
        except Exception as err:  # the melody still sounds; the error is shown, once per kind
            self.errors += 1
            harmony = []
            self.emit("error", now, f"harmoniser failed: {err}")
            log.warning("harmoniser failed on %d: %s", pitch, err)
        target = channel if self.harmony_channel is None else self.harmony_channel
        hv = max(1, min(127, round(velocity * self.harmony_velocity)))
        for h in harmony:
            self.voices.on(target, h, hv)
        self._held[key] = (target, harmony)

    def note_off(self, now: float, channel: int, pitch: int) -> None:
        key = (channel, pitch)
        super().note_off(now, channel, pitch)
        held = self._held.pop(key, None)
        if held is None:
            return  # a note-off without a note-on: nothing of ours sounds
        target, harmony = held
        for h in harmony:
            self.voices.off(target, h)
        try:
            self.harmonizer.note_off(pitch)
        except Exception as err:
            self.errors += 1
            log.warning("harmoniser note_off failed: %s", err)

    def release_all(self, now: float) -> None:
        self._held.clear()
        super().release_all(now)
        try:
            self.harmonizer.reset()
        except Exception as err:
            log.warning("harmoniser reset failed: %s", err)


@dataclass
class _Phrase:
    notes: list[list[Any]]  # [on_time, off_time or None, pitch, velocity]

    @property
    def held(self) -> int:
        return sum(1 for n in self.notes if n[1] is None)


class CallResponseEngine(JamEngine):
    """Listens to a phrase; after a pause (or at a bar line) answers with the model's
    continuation, in tempo and starting on a beat, then listens again.

    The answer is computed while the pause is still being measured (from half a
    beat after the last key is released), so at detection it is usually ready and
    its first note falls on the next beat; a note played before the pause ends
    cancels that work. ``submit`` runs the responder (a worker thread unless a
    test runs it inline).
    """

    name = "call-response"

    def __init__(
        self,
        responder: Responder,
        grid: BeatGrid,
        pause_beats: float = 2.0,
        at_bar_line: bool = False,
        thru: bool = True,
        response_channel: int | None = None,
        quantise_ticks: int = PPQ // 4,
        max_bars: int = 4,
        max_phrase_notes: int = 128,
        submit: Callable[[Callable[[], list[Note]]], Future[list[Note]]] | None = None,
    ) -> None:
        super().__init__(thru)
        if pause_beats <= 0 and not at_bar_line:
            raise ValueError("the pause must last more than 0 beats")
        self.responder = responder
        self.grid = grid
        self.pause_beats = pause_beats
        self.at_bar_line = at_bar_line
        self.response_channel = response_channel
        self.quantise_ticks = quantise_ticks
        self.max_bars = max_bars
        self.max_phrase_notes = max_phrase_notes
        self._executor: ThreadPoolExecutor | None = None
        self._submit = submit or self._submit_to_thread
        self._phrase = _Phrase([])
        self._next_phrase = _Phrase([])
        self._silence_since: float | None = None
        self._job: Future[list[Note]] | None = None
        self._job_cancel: threading.Event | None = None
        self._job_from_tick = 0
        self._job_phrase_tick0 = 0
        self._detected_at: float | None = None
        self._responding_until: float | None = None
        self._channel = 0
        self.responses = 0

    def _submit_to_thread(self, work: Callable[[], list[Note]]) -> Future[list[Note]]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="responder")
        return self._executor.submit(work)

    # --- input

    def note_on(self, now: float, channel: int, pitch: int, velocity: int) -> None:
        super().note_on(now, channel, pitch, velocity)
        self._channel = channel
        self.grid.anchor(now)
        listening = self._responding_until is None and self._detected_at is None
        phrase = self._phrase if listening else self._next_phrase
        if listening:
            self._cancel_job()  # the player goes on: the phrase is not over
            self._silence_since = None
        phrase.notes.append([now, None, pitch, velocity])
        if (
            len(phrase.notes) > self.max_phrase_notes
        ):  # endless playing: the model needs the recent part
            del phrase.notes[0]

    def note_off(self, now: float, channel: int, pitch: int) -> None:
        super().note_off(now, channel, pitch)
        for phrase in (self._next_phrase, self._phrase):
            for note in reversed(phrase.notes):
                if note[2] == pitch and note[1] is None:
                    note[1] = now
                    break
            else:
                continue
            break
        if (
            self._responding_until is None
            and self._detected_at is None
            and self._phrase.notes
            and self._phrase.held == 0
        ):
            self._silence_since = now

    # --- time

    def wakeup(self) -> float | None:
        if self._detected_at is None and self._silence_since is not None:
            if self._job is None:
                return min(self._speculation_time(), self._detection_time())
            return self._detection_time()
        if self._responding_until is not None:
            return self._responding_until
        return None

    def tick(self, now: float) -> None:
        if self._responding_until is not None:
            if now >= self._responding_until:
                self._end_response(now)
            return
        if self._detected_at is None:
            if self._silence_since is None or not self._phrase.notes or self._phrase.held:
                return
            if self._job is None and now >= self._speculation_time():
                self._start_job(now)
            detect = self._detection_time()
            if now < detect:
                return
            self._detected_at = detect
            self.emit(
                "pause",
                detect,
                f"heard a phrase of {len(self._phrase.notes)} notes",
                notes=len(self._phrase.notes),
            )
            if self._job is None:
                self._start_job(now)
        job = self._job
        if job is None or not job.done():
            return
        self._job = None
        try:
            notes = job.result()
        except Exception as err:
            self.errors += 1
            self.emit("error", now, f"no answer: {err}")
            log.warning("responder failed: %s", err)
            self._reset_phrase()
            return
        self._schedule_response(now, notes)

    def _speculation_time(self) -> float:
        """When to start computing the answer: after a short silence, not at every
        detached note, and well before the pause is confirmed."""
        assert self._silence_since is not None
        beats = min(0.5, self.pause_beats / 2) if self.pause_beats > 0 else 0.5
        return self._silence_since + beats * self.grid.beat_seconds

    def _detection_time(self) -> float:
        assert self._silence_since is not None
        if self.at_bar_line:
            # at least half a beat of silence, then the next bar line
            when, _ = self.grid.next_bar(self._silence_since + self.grid.beat_seconds / 2)
            if self.pause_beats > 0:
                when = min(when, self._silence_since + self.pause_beats * self.grid.beat_seconds)
            return when
        return self._silence_since + self.pause_beats * self.grid.beat_seconds

    # --- the answer

    def _phrase_song(self) -> tuple[Song, int, int]:
        """The phrase as a song from a bar line: (song, from_tick, jam tick of its tick 0)."""
        grid = self.grid
        first_tick = grid.tick_at(self._phrase.notes[0][0])
        bar_ticks = grid.meter.bar_ticks
        tick0 = math.floor((first_tick + self.quantise_ticks / 2) / bar_ticks) * bar_ticks
        notes = []
        for on, off, pitch, velocity in self._phrase.notes:
            start = max(0, round(grid.tick_at(on) - tick0))
            end = round(grid.tick_at(off if off is not None else on) - tick0)
            notes.append(
                Note(
                    pitch=pitch,
                    start_tick=start,
                    duration_ticks=max(1, end - start),
                    velocity=velocity,
                )
            )
        track = quantise_track(Track("Call").with_notes(notes), self.quantise_ticks)
        end_tick = max(n.end_tick for n in track.notes)
        beat = grid.beat_ticks
        from_tick = -(-end_tick // beat) * beat
        song = Song(
            tracks=(track,),
            tempos=(TempoChange.from_bpm(0, grid.tempo_bpm),),
            time_signatures=(TimeSignature(0, grid.meter.numerator, grid.meter.denominator),),
        )
        return song, from_tick, tick0

    def phrase_bars(self, song: Song) -> int:
        bar = self.grid.meter.bar_ticks
        return max(1, min(self.max_bars, -(-song.end_tick // bar)))

    def _start_job(self, now: float) -> None:
        self._cancel_job()
        song, from_tick, tick0 = self._phrase_song()
        cancel = threading.Event()
        self._job_cancel, self._job_from_tick, self._job_phrase_tick0 = cancel, from_tick, tick0
        responder = self.responder
        self._job = self._submit(lambda: responder(song, from_tick, cancel))

    def _cancel_job(self) -> None:
        if self._job_cancel is not None:
            self._job_cancel.set()
        if self._job is not None:
            self._job.cancel()  # still queued: never starts
        self._job, self._job_cancel = None, None

    def _schedule_response(self, now: float, notes: list[Note]) -> None:
        notes = sorted(n for n in notes if n.start_tick >= self._job_from_tick)
        if not notes:
            self.emit("error", now, "the model gave no notes to answer with")
            self._reset_phrase()
            return
        assert self._detected_at is not None
        # on the first beat at or after detection, or after the answer came (if later)
        start_time, start_tick = self.grid.next_beat(max(self._detected_at, now))
        first = notes[0].start_tick
        channel = self._channel if self.response_channel is None else self.response_channel
        end_time = start_time
        for n in notes:
            on_time = self.grid.time_of_tick(start_tick + n.start_tick - first)
            off_time = self.grid.time_of_tick(start_tick + n.end_tick - first)
            self.out.at(on_time, note_on(channel, n.pitch, n.velocity), "response")
            self.out.at(off_time, note_off(channel, n.pitch), "response")
            end_time = max(end_time, off_time)
        self.responses += 1
        self.emit(
            "response",
            start_time,
            f"answering with {len(notes)} notes",
            detected_at=self._detected_at,
            first_note_at=start_time,
            first_tick=start_tick,
            notes=len(notes),
            beat_seconds=self.grid.beat_seconds,
            origin=self.grid.time_of_tick(0),
            ready_at=now,
        )
        self._responding_until = end_time

    def _end_response(self, now: float) -> None:
        self._responding_until = None
        self.emit("listening", now, "listening")
        self._listen_again(now)

    def _reset_phrase(self) -> None:
        self._cancel_job()
        self._listen_again(self._detected_at or 0.0)

    def _listen_again(self, now: float) -> None:
        """The phrase is answered (or cannot be): notes played meanwhile start the next."""
        self._detected_at = None
        self._silence_since = None
        self._phrase, self._next_phrase = self._next_phrase, _Phrase([])
        if self._phrase.notes and self._phrase.held == 0:
            self._silence_since = max(n[1] for n in self._phrase.notes)

    def release_all(self, now: float) -> None:
        for phrase in (self._phrase, self._next_phrase):
            for note in phrase.notes:
                if note[1] is None:
                    note[1] = now
        super().release_all(now)

    def stop(self, now: float) -> None:
        self._cancel_job()
        # a response cut short must not leave its notes on: turn off those already started
        for msg in self.out.cancel("response"):
            if msg.type == "note_off":
                self.out.send(msg)
        super().stop(now)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


class RecordEngine(JamEngine):
    """Thru, a metronome (and count-in) on the drum channel, and the take."""

    name = "record"

    def __init__(
        self,
        grid: BeatGrid,
        count_in_bars: int = 1,
        metronome: bool = True,
        thru: bool = True,
        take_number: int = 1,
    ) -> None:
        super().__init__(thru)
        self.grid = grid
        self.count_in_bars = count_in_bars
        self.metronome = metronome
        self.take_number = take_number
        self.recorder: TakeRecorder | None = None
        self._next_click_tick = 0
        self.take: Take | None = None

    def start(self, now: float) -> None:
        count_in_ticks = self.count_in_bars * self.grid.meter.bar_ticks
        if self.grid.master is None and self.grid.follower is None:
            # the take's tick 0 is where the count-in ends
            self.grid.origin = now + count_in_ticks * 60.0 / (self.grid.tempo_bpm * PPQ)
            take_tick0 = 0
        else:  # a clock runs the time line: count in from the next bar line on it
            _, bar_tick = self.grid.next_bar(now)
            take_tick0 = bar_tick + count_in_ticks
        origin = self.grid.time_of_tick(take_tick0)
        tempo_map = TempoMap((TempoChange.from_bpm(0, self.grid.tempo_bpm),))
        self.recorder = TakeRecorder(tempo_map, origin, name=f"Take {self.take_number}")
        self._next_click_tick = take_tick0 - count_in_ticks
        self.emit(
            "recording",
            origin,
            f"recording take {self.take_number}"
            + (f" after {self.count_in_bars} bar(s) count-in" if self.count_in_bars else ""),
        )

    def handle(self, timed: TimedMessage) -> None:
        super().handle(timed)
        if self.recorder is not None:
            self.recorder.feed(timed)

    def tick(self, now: float) -> None:
        if not self.metronome:
            return
        # keep a quarter second of clicks scheduled ahead
        while self.grid.time_of_tick(self._next_click_tick) < now + 0.25:
            tick = self._next_click_tick
            when = self.grid.time_of_tick(tick)
            accent = tick % self.grid.meter.bar_ticks == 0
            pitch = METRONOME_ACCENT if accent else METRONOME_BEAT
            self.out.at(when, note_on(9, pitch, 110 if accent else 75), "click")
            self.out.at(when + 0.05, note_off(9, pitch), "click")
            self._next_click_tick += self.grid.beat_ticks

    def wakeup(self) -> float | None:
        if not self.metronome:
            return None
        return self.grid.time_of_tick(self._next_click_tick) - 0.25

    def release_all(self, now: float) -> None:
        if self.recorder is not None:
            self.recorder.release_all(now)
        super().release_all(now)

    def stop(self, now: float) -> None:
        for msg in self.out.cancel("click"):
            if msg.type == "note_off":
                self.out.send(msg)
        if self.recorder is not None:
            self.take = self.recorder.finish(now, self.take_number)
            self.emit("take", now, f"take {self.take_number}: {len(self.take.track.notes)} notes")
        super().stop(now)


# ------------------------------------------------------------ the session loop


class JamSession:
    """Runs an engine between an input and an output until cancelled.

    The loop blocks on the input queue with a timeout reaching the next
    scheduled message or engine deadline, so a note is answered as soon as it
    arrives and a scheduled note leaves when due. MIDI clock on the input feeds
    the follower; a clock master (if any) runs beside. Ports vanishing and
    returning are reported; when the input vanishes its held notes are ended.
    On any exit the engine stops and the output is panicked.
    """

    def __init__(
        self,
        inp: InputPort,
        out: OutputPort,
        engine: JamEngine,
        *,
        now: Callable[[], float] = time.monotonic,
        follower: ClockFollower | None = None,
        master: ClockMaster | None = None,
        on_event: EventSink | None = None,
        max_wait_s: float = 0.05,
    ) -> None:
        self.input = inp
        self.output = out
        self.engine = engine
        self.now = now
        self.follower = follower
        self.master = master
        self.on_event = on_event
        self.max_wait_s = max_wait_s
        self.scheduler = Scheduler()
        self._port_events: queue.SimpleQueue[PortEvent] = queue.SimpleQueue()
        self.port_events: list[PortEvent] = []
        self.messages_in = 0
        self.send_errors = 0
        engine.on_event = self._emit
        engine.bind(self.scheduler)

    def _emit(self, event: JamEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("jam event callback failed")

    def run(self, cancel: threading.Event, until: float | None = None) -> None:
        """Loop until ``cancel`` is set (or the clock reaches ``until``)."""
        for port in (self.input, self.output):
            port.add_listener(self._port_events.put)
        try:
            if self.master is not None and self.master.started_at is None:
                self.master.start()
            self.engine.start(self.now())
            self._emit(
                JamEvent(
                    "started", self.now(), f"{self.engine.name}: listening on {self.input.name}"
                )
            )
            while not cancel.is_set():
                now = self.now()
                if until is not None and now >= until:
                    break
                self._drain_port_events(now)
                timeout = self._timeout(now, until)
                timed = self.input.receive(timeout)
                if timed is not None:
                    self.messages_in += 1
                    self._handle(timed)
                    for more in self.input.pending():  # a chord arrives as a burst
                        self.messages_in += 1
                        self._handle(more)
                now = self.now()
                self.engine.tick(now)
                self._flush(now)
        finally:
            for port in (self.input, self.output):
                port.remove_listener(self._port_events.put)
            now = self.now()
            try:
                self.engine.stop(now)
                self._flush(math.inf)
            finally:
                if self.master is not None:
                    self.master.stop()
                self.output.panic()

    def _timeout(self, now: float, until: float | None) -> float:
        deadlines = [
            d for d in (self.scheduler.next_due(), self.engine.wakeup(), until) if d is not None
        ]
        nearest = min(deadlines, default=now + self.max_wait_s)
        return max(0.0, min(nearest - now, self.max_wait_s))

    def _handle(self, timed: TimedMessage) -> None:
        if timed.message.type in ("clock", "start", "stop", "continue", "songpos"):
            if self.follower is not None:
                kind = self.follower.feed(timed)
                if kind in ("start", "stop", "continue"):
                    self._emit(JamEvent("clock", timed.time, f"clock {kind}"))
            return
        try:
            self.engine.handle(timed)
        except Exception as err:  # one bad message must not end the jam
            self.engine.errors += 1
            log.exception("jam engine failed on %s", timed.message)
            self._emit(JamEvent("error", timed.time, f"ignored a message that failed: {err}"))

    def _flush(self, now: float) -> None:
        for msg in self.scheduler.due(now):
            try:
                self.output.send(msg)
            except Exception as err:
                self.send_errors += 1
                log.warning("sending to %s failed: %s", self.output.name, err)

    def _drain_port_events(self, now: float) -> None:
        while True:
            try:
                event = self._port_events.get_nowait()
            except queue.Empty:
                return
            self.port_events.append(event)
            if event.kind in ("vanished", "server_lost") and not self.input.connected:
                self.engine.release_all(now)
                self._flush(now)
            self._emit(
                JamEvent("port", now, event.describe(), {"kind": event.kind, "port": event.port})
            )
