"""``composer bench live``: timing of playback and jam modes over real JACK ports.

A probe client plays the musician (a keyboard port into composer) and the
synth (a port composer plays to), and stamps every arrival with the same
monotonic clock composer schedules by. Figures:

- playback error: arrival of each note against the song's schedule
  (``started_at + seconds``), median and p99 of the absolute error;
- the reference measured in the same run: the JACK transport alone (the probe
  sending straight to itself), which bounds what any client can reach;
- harmoniser: note-in (probe sends) to first harmony note out (probe receives);
- call and response: first answering note after the pause was detected, in
  beats, and its distance from the beat grid;
- soak (``--soak S``): random input at 20 notes/s into the harmoniser: stuck
  notes at the synth, memory growth, errors.

JACK delivers MIDI once per cycle, so its period bounds every figure: the
bench starts its own server (``-p 64``: 1.3 ms at 48 kHz, a live setting)
unless one already runs, and reports the period either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

from composer.core.song import Note, Song, TempoChange, Track
from composer.errors import PortError
from composer.live.probe import JackProbe, note_ons
from composer.services.jobs import Progress, no_progress

log = logging.getLogger(__name__)

TRANSPORT_MESSAGES = 200

TARGETS = {
    "playback_err_ms_median": 1.0,
    "playback_err_ms_p99": 3.0,
    "harmonizer_ms_median": 5.0,
    "harmonizer_ms_p99": 15.0,
    "response_delay_beats": 1.0,
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def _jack(period: int) -> Iterator[dict[str, Any]]:
    """A JACK server: the running one if any, else a private one with ``period`` frames."""
    from composer.live.backends import jack_server_running
    from composer.live.jackd import REALTIME_PRIORITY, JackServer, boost_priority, realtime_allowed

    boost_priority()  # as an audio setup runs its JACK clients (only where allowed)

    if jack_server_running():
        yield {"jack_server": "already running", "jack_period_ms": _running_period_ms()}
        return
    # Realtime where the system allows it, as JACK runs on a live setup: otherwise a
    # client thread that waits its turn past a 1.3 ms cycle has its MIDI dropped.
    realtime = realtime_allowed()
    server = JackServer(period=period, realtime=realtime).start()
    flags = f"-R -P {REALTIME_PRIORITY}" if realtime else "--no-realtime"
    try:
        yield {
            "jack_server": f"started (jackd {flags} -d dummy -r {server.rate} -p {server.period})",
            "jack_period_ms": round(server.period_ms, 3),
        }
    finally:
        server.stop()


def _running_period_ms() -> float | None:
    try:
        size = subprocess.run(["jack_bufsize"], capture_output=True, text=True, timeout=5).stdout
        rate = subprocess.run(["jack_samplerate"], capture_output=True, text=True, timeout=5).stdout
        frames = int(size.split("=")[-1].split()[0]) if "=" in size else int(size.split()[0])
        return round(1000.0 * frames / int(rate.split()[0]), 3)
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def bench_song() -> Song:
    """Eight bars of varied rhythm (sixteenths, triplets, dotted notes, chords) in two
    parts, with a tempo change halfway: what the player must keep exact."""
    rng = random.Random(7)
    melody, chords = [], []
    tick = 0
    durations = (120, 120, 160, 160, 160, 240, 360, 480)
    while tick < 16 * 1920:
        d = rng.choice(durations)
        melody.append(
            Note(
                pitch=rng.randint(64, 84),
                start_tick=tick,
                duration_ticks=max(60, d - 30),
                velocity=rng.randint(60, 110),
            )
        )
        tick += d
    for bar in range(16):
        root = rng.choice((48, 50, 53, 55, 57))
        for offset in (0, 4, 7):
            chords.append(
                Note(pitch=root + offset, start_tick=bar * 1920, duration_ticks=1800, velocity=70)
            )
    return Song(
        tracks=(Track("Melody").with_notes(melody), Track("Chords", channel=1).with_notes(chords)),
        tempos=(TempoChange(0, 500_000), TempoChange(8 * 1920, 400_000)),
    )


def measure_transport(probe: JackProbe, count: int = 200) -> list[float]:
    """The reference: latency of the JACK transport alone, probe keyboard to probe synth."""
    import rtmidi

    # A second client connected keyboard -> synth, as a patch cable would be.
    from composer.live.backends import CLIENT_LOCK

    with CLIENT_LOCK:
        link_in = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="composer-bench-ref")
        link_in.open_port(link_in.get_ports().index(probe.synth_name))
    probe.take_arrivals()
    sent: dict[tuple[int, int], float] = {}
    rng = random.Random(3)
    try:
        for i in range(count):
            time.sleep(rng.uniform(0.004, 0.012))
            # Each message names itself (pitch and velocity), so one JACK drops
            # cannot pair every later arrival with the wrong send.
            pitch, velocity = i % 128, 1 + i // 128
            sent[(pitch, velocity)] = time.monotonic()
            link_in.send_message([0x9F, pitch, velocity])
        time.sleep(0.2)
    finally:
        with CLIENT_LOCK:
            link_in.close_port()
            link_in.delete()
    latencies = []
    for t, raw in probe.take_arrivals():
        key = (raw[1], raw[2]) if len(raw) >= 3 and raw[0] == 0x9F else None
        if key in sent:
            latencies.append((t - sent.pop(key)) * 1000)
    return latencies


def measure_playback(probe: JackProbe) -> tuple[list[float], int]:
    """Absolute error (ms) of every note-on of :func:`bench_song` heard against its
    schedule, and how many notes never arrived (JACK drops MIDI of late clients)."""
    from composer.live.player import Player
    from composer.live.ports import open_output
    from composer.live.schedule import build_schedule

    song = bench_song()
    schedule = build_schedule(song)
    expected: dict[tuple[int, int], list[float]] = {}
    for event in schedule.events:
        if event.message.type == "note_on":
            expected.setdefault((event.message.channel, event.message.note), []).append(
                event.seconds
            )
    out = open_output(probe.synth_name, "jack")
    try:
        time.sleep(0.3)
        probe.take_arrivals()
        player = Player(out)
        player.run(song)
        time.sleep(0.2)
    finally:
        out.close()
    assert player.started_at is not None
    errors = []
    seen: dict[tuple[int, int], int] = {}
    for when, channel, pitch in note_ons(probe.take_arrivals()):
        key = (channel, pitch)
        index = seen.get(key, 0)
        seen[key] = index + 1
        if index < len(expected.get(key, [])):
            errors.append(abs(when - player.started_at - expected[key][index]) * 1000)
    lost = sum(len(v) for v in expected.values()) - len(errors)
    return errors, lost


@contextlib.contextmanager
def _jam(probe: JackProbe, engine: Any) -> Iterator[Any]:
    from composer.live.jam import JamSession
    from composer.live.ports import open_input, open_output

    inp = open_input(probe.keys_name, "jack")
    out = open_output(probe.synth_name, "jack")
    session = JamSession(inp, out, engine)
    cancel = threading.Event()
    thread = threading.Thread(target=session.run, args=(cancel,), name="jam", daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        yield session
    finally:
        cancel.set()
        thread.join(5)
        inp.close()
        out.close()


def measure_harmonizer(
    probe: JackProbe, harmonizer: Any, notes: int = 150
) -> tuple[list[float], int]:
    """Note-in to first harmony note out (ms), for ``notes`` melody notes."""
    from composer.live.jam import HarmonizerEngine

    rng = random.Random(11)
    latencies: list[float] = []
    silent = 0
    with _jam(probe, HarmonizerEngine(harmonizer, thru=True)):
        for _ in range(notes):
            pitch = rng.randint(62, 79)
            probe.take_arrivals()
            sent = probe.send([0x90, pitch, 90])
            time.sleep(0.08)
            harmony = [t for t, ch, p in note_ons(probe.take_arrivals()) if p != pitch]
            if harmony:
                latencies.append((min(harmony) - sent) * 1000)
            else:
                silent += 1
            probe.send([0x80, pitch, 0])
            time.sleep(rng.uniform(0.02, 0.06))
    return latencies, silent


def measure_call_response(
    probe: JackProbe, responder: Any, phrases: int = 5
) -> list[dict[str, float]]:
    """Play one-bar phrases at 120 BPM; for each answer, its delay after the pause was
    detected (beats) and its first note's distance from the beat grid (ms)."""
    from composer.live.jam import BeatGrid, CallResponseEngine

    events: list[Any] = []
    grid = BeatGrid(120.0)
    engine = CallResponseEngine(responder, grid, pause_beats=1.0)
    results = []
    melodies = (
        [67, 69, 71, 72],
        [72, 71, 69, 67],
        [64, 67, 72, 71],
        [65, 69, 72, 74],
        [60, 64, 67, 72],
    )
    with _jam(probe, engine) as session:
        session.on_event = events.append
        for i in range(phrases):
            events.clear()
            probe.take_arrivals()
            start = time.monotonic()
            if grid.origin is not None:  # play in time: start on the next bar line
                start, _ = grid.next_bar(start + 0.05)
            for k, pitch in enumerate(melodies[i % len(melodies)]):
                _sleep_until(start + k * 0.5)
                probe.send([0x90, pitch, 90])
                _sleep_until(start + k * 0.5 + 0.4)
                probe.send([0x80, pitch, 0])
            deadline = time.monotonic() + 15
            answer = None
            while time.monotonic() < deadline:
                answer = next((e for e in events if e.kind == "response"), None)
                if answer is not None or any(e.kind == "error" for e in events):
                    break
                time.sleep(0.02)
            if answer is None:
                raise PortError(
                    f"no answer to phrase {i + 1}: "
                    + "; ".join(e.text for e in events if e.kind == "error")
                )
            ends = [e for e in events if e.kind == "listening"]
            while not ends and time.monotonic() < deadline:
                time.sleep(0.05)
                ends = [e for e in events if e.kind == "listening"]
            heard = [
                t for t, ch, p in note_ons(probe.take_arrivals()) if t >= answer.data["detected_at"]
            ]
            if not heard:
                raise PortError(f"the answer to phrase {i + 1} never reached the synth")
            first = min(heard)
            beat = answer.data["beat_seconds"]
            nearest_beat_tick = round(grid.tick_at(first) / grid.beat_ticks) * grid.beat_ticks
            results.append(
                {
                    "delay_beats": (first - answer.data["detected_at"]) / beat,
                    "grid_err_ms": abs(first - grid.time_of_tick(nearest_beat_tick)) * 1000,
                    "notes": answer.data["notes"],
                }
            )
            time.sleep(0.3)
    return results


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_live_bench(
    period: int = 64,
    harmony_model: str = "auto",
    melody_model: str = "auto",
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """All live figures, as one dict (``table`` and ``notes`` for the text report)."""
    from composer.services.jam import live_harmonizer, melody_responder, warm_up

    report: dict[str, Any] = {}
    notes: list[str] = []
    progress(0.0, "starting JACK")
    with _jack(period) as server:
        report.update(server)
        probe = JackProbe("composer-bench")
        try:
            progress(0.05, "JACK transport alone (reference)")
            transport = measure_transport(probe, TRANSPORT_MESSAGES)
            report["jack_transport_lost"] = TRANSPORT_MESSAGES - len(transport)
            report["jack_transport_ms_median"] = round(statistics.median(transport), 3)
            report["jack_transport_ms_p99"] = round(_percentile(transport, 0.99), 3)
            progress(0.15, "playback")
            errors, lost = measure_playback(probe)
            report["playback_notes"] = len(errors)
            report["playback_notes_lost"] = lost
            report["playback_err_ms_median"] = round(statistics.median(errors), 3)
            report["playback_err_ms_p99"] = round(_percentile(errors, 0.99), 3)
            progress(0.45, "harmoniser")
            harmonizer = live_harmonizer("chorale", harmony_model)
            warm_up({"harmonizer": harmonizer})
            report["harmonizer_model"] = harmonizer.model
            latencies, silent = measure_harmonizer(probe, harmonizer)
            report["harmonizer_ms_median"] = round(statistics.median(latencies), 3)
            report["harmonizer_ms_p99"] = round(_percentile(latencies, 0.99), 3)
            if silent:
                notes.append(
                    f"the harmoniser gave no harmony for {silent} of "
                    f"{silent + len(latencies)} notes"
                )
            progress(0.75, "call and response")
            try:
                responder = melody_responder(melody_model, seed=1)
                warm_up({"responder": responder})
                report["response_model"] = responder.model_name
                answers = measure_call_response(probe, responder)
                report["response_delay_beats"] = round(max(a["delay_beats"] for a in answers), 3)
                report["response_delay_beats_median"] = round(
                    statistics.median(a["delay_beats"] for a in answers), 3
                )
                report["response_grid_err_ms_max"] = round(
                    max(a["grid_err_ms"] for a in answers), 3
                )
                report["responses"] = len(answers)
            except Exception as err:  # no melody model yet: the other figures still stand
                report["response_delay_beats"] = None
                notes.append(f"call and response not measured: {err}")
        finally:
            probe.close()
    progress(1.0, "done")
    period_ms = report.get("jack_period_ms")
    if period_ms:
        notes.append(
            f"JACK passes MIDI on once per {period_ms} ms cycle; the transport alone "
            f"takes {report['jack_transport_ms_median']} ms median"
        )
    report["table"] = _table(report)
    report["notes"] = notes
    return report


def _table(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for key in (
        "jack_transport_ms_median",
        "jack_transport_ms_p99",
        "playback_err_ms_median",
        "playback_err_ms_p99",
        "harmonizer_ms_median",
        "harmonizer_ms_p99",
        "response_delay_beats",
        "response_grid_err_ms_max",
    ):
        if key in report:
            value = report[key]
            target = TARGETS.get(key)
            rows.append(
                [
                    key,
                    "n/a" if value is None else value,
                    f"<= {target:g}" if target is not None else "reference",
                ]
            )
    soak_targets = {"stuck_notes": "0", "stuck_after_stop": "0", "memory_growth_pct": "< 10",
                    "errors": "0", "transport_loss_pct": "reference"}
    for key, soak_target in soak_targets.items():
        if key in report:
            rows.append([key, report[key], soak_target])
    return rows


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_soak(
    seconds: float,
    period: int = 64,
    harmony_model: str = "auto",
    rate_hz: float = 20.0,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Random input at ``rate_hz`` notes/s into the harmoniser for ``seconds``.

    The input includes what a real controller sends besides notes: controllers,
    bends, sustain, SysEx, and note-offs for keys never pressed. Memory is the
    process's resident size after the first tenth of the run (warm) and at the end.
    """
    import gc

    from composer.live.jam import HarmonizerEngine
    from composer.services.jam import live_harmonizer, warm_up

    report: dict[str, Any] = {"soak_seconds": seconds, "rate_notes_per_s": rate_hz}
    rng = random.Random(5)
    with _jack(period) as server:
        report.update(server)
        probe = JackProbe("composer-bench", keep=False)
        try:
            harmonizer = live_harmonizer("chorale", harmony_model)
            warm_up({"harmonizer": harmonizer})
            report["harmonizer_model"] = harmonizer.model
            engine = HarmonizerEngine(harmonizer, thru=True)
            with _jam(probe, engine) as session:
                sent_before = probe.sent
                held: dict[int, float] = {}
                start = time.monotonic()
                next_note = start
                baseline = None
                sent = 0
                while (now := time.monotonic()) < start + seconds:
                    for pitch, until in list(held.items()):
                        if now >= until:
                            probe.send([0x80, pitch, 0])
                            del held[pitch]
                    if now >= next_note:
                        pitch = rng.choice([p for p in range(55, 85) if p not in held])
                        if pitch not in held:
                            probe.send([0x90, pitch, rng.randint(30, 120)])
                            held[pitch] = now + rng.uniform(0.03, 0.6)
                            sent += 1
                        extra = rng.random()
                        if extra < 0.02:
                            probe.send(
                                [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7]
                            )  # SysEx identity request
                        elif extra < 0.05:
                            probe.send([0xB0, 64, rng.choice((0, 127))])  # sustain
                        elif extra < 0.08:
                            probe.send([0xE0, rng.randint(0, 127), rng.randint(0, 127)])
                        elif extra < 0.10:
                            probe.send([0x80, rng.randint(20, 40), 0])  # never pressed
                        next_note += 1.0 / rate_hz
                    if baseline is None and now - start >= seconds / 10:
                        gc.collect()
                        baseline = _rss_bytes()
                    progress((now - start) / seconds, f"{sent} notes")
                    time.sleep(0.002)
                for pitch in list(held):
                    probe.send([0x80, pitch, 0])
                probe.send([0xB0, 64, 0])
                time.sleep(1.0)
                gc.collect()
                report["rss_mb_start"] = round((baseline or _rss_bytes()) / 2**20, 1)
                report["rss_mb_end"] = round(_rss_bytes() / 2**20, 1)
                report["notes_sent"] = sent
                # Stuck notes are counted before the session's final panic would hide them:
                # at the synth, and as composer's output sees them (notes whose note-off
                # never reached composer's input are held there too).
                report["stuck_notes"] = len(probe.sounding_keys())
                report["composer_holding"] = len(session.output.sounding())
                report["errors"] = engine.errors + session.send_errors
                report["messages_in"] = session.messages_in
                report["messages_sent"] = probe.sent - sent_before
            # after the session stopped (and panicked), nothing may sound
            probe.wait_for(lambda: probe.sounding_keys() == [], 5.0)
            report["stuck_after_stop"] = len(probe.sounding_keys())
        finally:
            probe.close()
    start_mb, end_mb = report["rss_mb_start"], report["rss_mb_end"]
    sent_count = max(1, report["messages_sent"])
    report["transport_loss_pct"] = round(100.0 * (1 - report["messages_in"] / sent_count), 2)
    report["memory_growth_pct"] = round(100.0 * (end_mb - start_mb) / start_mb, 2)
    report["table"] = _table(report)
    report["notes"] = [
        f"{report['notes_sent']} notes in {seconds:g} s with the "
        f"{report['harmonizer_model']} harmoniser; {report['messages_in']} messages in"
    ]
    progress(1.0, "done")
    return report
