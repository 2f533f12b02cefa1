"""Jam modes for the CLI and the editor: call and response, live harmoniser, record.

This is where the live engines meet the models: call and response answers
with ``generate.continue_melody`` and the harmoniser voices each note with
``harmonize.LiveHarmonizer``. Models are loaded (and run once) before the jam
starts listening, so the first answer is as quick as the rest.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.core.song import Note, Song, Track
from composer.errors import InvalidArgumentError, ModelError
from composer.services.jobs import Progress, check_cancel, no_progress
from composer.services.record import parse_meter

log = logging.getLogger(__name__)

MODES = ("call-response", "harmonize", "record")


@dataclass(frozen=True)
class JamSettings:
    """Everything a jam needs to know besides its ports."""

    mode: str = "harmonize"
    tempo_bpm: float = 120.0
    meter: str = "4/4"
    thru: bool = True
    follow_clock: bool = False
    send_clock: bool = False
    # call and response
    pause_beats: float = 2.0
    at_bar_line: bool = False
    model: str = "auto"
    temperature: float = 0.9
    top_p: float = 0.95
    seed: int | None = None
    response_bars: int | None = None
    # harmoniser
    style: str = "chorale"
    harmony_model: str = "auto"
    key: str | None = None
    # record
    count_in_bars: int = 1
    metronome: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidArgumentError(
                f"unknown jam mode {self.mode!r}", f"choose one of: {', '.join(MODES)}"
            )
        if not 20 <= self.tempo_bpm <= 400:
            raise InvalidArgumentError(f"tempo {self.tempo_bpm:g} BPM is outside 20..400")
        if not 0 <= self.pause_beats <= 16 or (self.pause_beats == 0 and not self.at_bar_line):
            raise InvalidArgumentError(f"a pause of {self.pause_beats:g} beats is outside (0, 16]")
        if self.response_bars is not None and not 1 <= self.response_bars <= 16:
            raise InvalidArgumentError(f"a response of {self.response_bars} bars is outside 1..16")
        if self.follow_clock and self.send_clock:
            raise InvalidArgumentError("composer cannot both follow and send MIDI clock")
        parse_meter(self.meter)


@dataclass
class JamResult:
    mode: str
    responses: int = 0
    take: Any = None
    saved_to: Path | None = None
    errors: int = 0
    events: list[Any] = field(default_factory=list)


def best_melody_model() -> str:
    """The best installed melody model: the Transformer, else the LSTM, else Markov."""
    from composer.services.generate import MODELS
    from composer.services.models import model_dir

    for name in MODELS:
        if model_dir("melody", name).exists():
            return name
    raise ModelError("no melody model is installed", "train one with scripts/train_melody.py")


def melody_responder(
    model: str = "auto",
    temperature: float = 0.9,
    top_p: float = 0.95,
    seed: int | None = None,
    bars: int | None = None,
):
    """A responder for call and response: the phrase continued by a melody model.

    The answer is as long as the phrase (whole bars, 1 to 4) unless ``bars``
    is given, and holds only the new notes, at ticks from ``from_tick`` on.
    """
    from composer.services.generate import GenerationSettings, continue_melody

    name = best_melody_model() if model == "auto" else model

    def respond(phrase: Song, from_tick: int, cancel: threading.Event) -> list[Note]:
        bar_ticks = phrase.time_signatures[0].bar_ticks
        length = bars or max(1, min(4, -(-from_tick // bar_ticks)))
        settings = GenerationSettings(
            model=name, bars=length, temperature=temperature, top_p=top_p, seed=seed
        )
        result = continue_melody(
            phrase, settings, track_index=0, from_tick=from_tick, cancel=cancel
        )
        return list(result.variations[0].notes) if result.variations else []

    respond.model_name = name  # type: ignore[attr-defined]
    return respond


def live_harmonizer(style: str = "chorale", model: str = "auto", key: str | None = None):
    """The harmoniser for the live mode (the best installed model unless named)."""
    from composer.services.harmonize import LiveHarmonizer

    return LiveHarmonizer(style=style, model=model, key=key)


def warm_up(engine_parts: dict[str, Any]) -> None:
    """Run each model once so loading and first-call costs are paid before the jam."""
    harmonizer = engine_parts.get("harmonizer")
    if harmonizer is not None:
        harmonizer.note_on(67, 80)
        harmonizer.note_off(67)
        harmonizer.reset()
    responder = engine_parts.get("responder")
    if responder is not None:
        from composer.core.song import TempoChange

        notes = [
            Note(pitch=p, start_tick=i * 480, duration_ticks=440)
            for i, p in enumerate((67, 69, 71, 72))
        ]
        phrase = Song(tracks=(Track("Call").with_notes(notes),), tempos=(TempoChange(0, 500_000),))
        responder(phrase, 1920, threading.Event())


def build_engine(
    settings: JamSettings,
    *,
    follower=None,
    master=None,
    responder=None,
    harmonizer=None,
    take_number: int = 1,
):
    """The live engine for ``settings.mode`` (models from the services unless given)."""
    from composer.live.jam import BeatGrid, CallResponseEngine, HarmonizerEngine, RecordEngine

    grid = BeatGrid(
        settings.tempo_bpm, parse_meter(settings.meter), follower=follower, master=master
    )
    if settings.mode == "call-response":
        responder = responder or melody_responder(
            settings.model,
            settings.temperature,
            settings.top_p,
            settings.seed,
            settings.response_bars,
        )
        return CallResponseEngine(
            responder, grid, settings.pause_beats, settings.at_bar_line, settings.thru
        ), {"responder": responder}
    if settings.mode == "harmonize":
        harmonizer = harmonizer or live_harmonizer(
            settings.style, settings.harmony_model, settings.key
        )
        return HarmonizerEngine(harmonizer, settings.thru), {"harmonizer": harmonizer}
    return RecordEngine(
        grid, settings.count_in_bars, settings.metronome, settings.thru, take_number
    ), {}


def run_jam(
    settings: JamSettings,
    inp: str | None = None,
    out: str | None = None,
    *,
    backend: str | None = None,
    virtual_in: bool = False,
    virtual_out: bool = False,
    save_to: str | Path | None = None,
    seconds: float | None = None,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
    on_event=None,
    responder=None,
    harmonizer=None,
) -> JamResult:
    """Jam until ``cancel`` is set (or ``seconds`` pass). In record mode the take is
    added to ``save_to`` (a song file or project) when the jam ends."""
    from composer.live.clock import ClockFollower, ClockMaster
    from composer.live.jam import JamSession
    from composer.services.ports import OutputChoice, open_input_choice
    from composer.services.record import add_track_to_file

    cancel = cancel or threading.Event()
    if settings.mode == "record" and save_to is None:
        raise InvalidArgumentError("record mode needs a file to add the take to", "give -o FILE")
    progress(0.0, "loading the model")
    follower = ClockFollower() if settings.follow_clock else None
    engine, parts = build_engine(
        settings, follower=follower, responder=responder, harmonizer=harmonizer
    )
    warm_up(parts)
    check_cancel(cancel)
    result = JamResult(settings.mode)
    with (
        open_input_choice(inp, backend, virtual_in) as port_in,
        OutputChoice(out, backend, virtual_out) as output,
    ):
        master = ClockMaster(output.port, settings.tempo_bpm) if settings.send_clock else None
        if master is not None:
            engine.grid.master = master  # type: ignore[attr-defined]
        session = JamSession(
            port_in, output.port, engine, follower=follower, master=master, on_event=on_event
        )
        progress(
            -1, f"{settings.mode}: listening on {port_in.name}, playing to {output.description}"
        )
        session.run(cancel, None if seconds is None else session.now() + seconds)
    result.responses = getattr(engine, "responses", 0)
    result.errors = engine.errors + session.send_errors
    result.events = list(engine.events)
    take = getattr(engine, "take", None)
    if take is not None:
        result.take = take
        if take.track.notes and save_to is not None:
            result.saved_to, _ = add_track_to_file(
                save_to, take.track, settings.tempo_bpm, parse_meter(settings.meter)
            )
    return result
