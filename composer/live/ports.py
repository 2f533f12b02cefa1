"""MIDI ports: one abstraction over ALSA or JACK ports and an in-memory loop-back.

An :class:`OutputPort` remembers which notes it left sounding, so ``panic()``
can send explicit note-offs before the all-notes-off and reset-controllers
messages, and ``close()`` (idempotent) always panics first. Every open output
is also panicked at interpreter exit, and on SIGTERM/SIGHUP once
:func:`install_exit_handlers` ran: no stuck notes, ever.

An :class:`InputPort` enqueues the raw bytes with their arrival time (read
from rtmidi's queue by :mod:`composer.live.arrivals`, never by a callback on the
backend's thread); consumers ``receive()`` parsed :class:`TimedMessage` s.

Ports opened by name are watched: when one vanishes (a controller unplugged,
a synth quit, the JACK server stopped) a :class:`PortEvent` is reported to the
port's listeners, and the port reconnects by itself when it returns.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import re
import signal
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from composer.errors import PortError
from composer.live.arrivals import InputReader, RawMessage
from composer.live.backends import CLIENT_LOCK, choose_backend, prepare, rtmidi_api
from composer.live.midi import Now, SoundingNotes, TimedMessage, note_off, panic_messages

log = logging.getLogger(__name__)

CLIENT_IN = "composer-in"
CLIENT_OUT = "composer-out"
PORT_NAME = "midi"
WATCH_INTERVAL_S = 0.25
INPUT_QUEUE_LIMIT = 8192
JACK_FLUSH_S = 1.0
"""How long a closed JACK output stays open to hand its last messages to the server."""

EventKind = Literal["vanished", "returned", "server_lost", "server_back"]


@dataclass(frozen=True)
class PortEvent:
    """Something happened to a port: it vanished, came back, or its server did."""

    kind: EventKind
    port: str
    detail: str = ""

    def describe(self) -> str:
        text = {
            "vanished": f"MIDI port {self.port} disappeared; waiting for it to return",
            "returned": f"MIDI port {self.port} is back",
            "server_lost": f"the MIDI server stopped; {self.port} waits for it",
            "server_back": f"the MIDI server is back; {self.port} reopened",
        }[self.kind]
        return f"{text} ({self.detail})" if self.detail else text


Listener = Callable[[PortEvent], None]


@dataclass(frozen=True)
class PortList:
    """The ports a backend offers: inputs to listen to, outputs to play to."""

    backend: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


# ------------------------------------------------------------ base classes


class _Port:
    def __init__(self, name: str) -> None:
        self.name = name
        self.connected = True
        self._closed = False
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` when the port vanishes or returns.

        Listeners run on the watcher thread: they must only record or enqueue.
        """
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _report(self, event: PortEvent) -> None:
        log.warning("%s", event.describe())
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the watcher
                log.exception("port listener failed")

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError  # abstract: every port class defines it


class OutputPort(_Port):
    """Where composer sends MIDI. Subclasses implement ``_write`` and ``_close_backend``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._sounding = SoundingNotes()
        self._channels: set[int] = set()
        _OPEN_OUTPUTS.add(self)

    def send(self, msg: Any) -> None:
        """Send one mido message; raises PortError if the port was closed.

        While the destination has vanished messages are dropped (the notes are
        still tracked, and turned off when it returns).
        """
        with self._lock:
            if self._closed:
                raise PortError(f"MIDI output {self.name} is closed")
            self._sounding.update(msg)
            channel = getattr(msg, "channel", None)
            if channel is not None:
                self._channels.add(channel)
            if self.connected:
                self._write(msg)

    def sounding(self) -> list[tuple[int, int]]:
        """(channel, pitch) of the notes this port has turned on and not off."""
        with self._lock:
            return self._sounding.held()

    def panic(self) -> None:
        """Turn off every note this port sounded, then sustain off, all notes off and
        reset controllers on each channel it used. Never raises."""
        with self._lock:
            if self._closed:
                return
            messages = [note_off(ch, pitch) for ch, pitch in self._sounding.held()]
            messages += panic_messages(self._channels)
            self._sounding.clear()
            if not self.connected:
                return
            for msg in messages:
                try:
                    self._write(msg)
                except Exception as err:  # the port may be dying: panic is best effort
                    log.debug("panic on %s: %s", self.name, err)
                    return

    def close(self) -> None:
        """Panic, then release the port; calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            try:
                self.panic()
            finally:
                self._closed = True
                _OPEN_OUTPUTS.discard(self)
                try:
                    self._close_backend()
                except Exception as err:
                    log.debug("closing %s: %s", self.name, err)

    def _write(self, msg: Any) -> None:
        raise NotImplementedError  # abstract

    def _close_backend(self) -> None:
        raise NotImplementedError  # abstract


class InputPort(_Port):
    """Where composer listens. The backend's reader only calls ``_enqueue``."""

    def __init__(self, name: str, now: Now = time.monotonic) -> None:
        super().__init__(name)
        self._now = now
        self._queue: queue.Queue[tuple[float, bytes | list[int]]] = queue.Queue(INPUT_QUEUE_LIMIT)
        self.dropped = 0
        self.invalid = 0

    def _enqueue(self, data: bytes | list[int], when: float | None = None) -> None:
        """The whole of the reader's work per message: stamp and enqueue, nothing else."""
        try:
            self._queue.put_nowait((self._now() if when is None else when, data))
        except queue.Full:  # nobody is reading: drop rather than grow without bound
            self.dropped += 1

    def receive(self, timeout: float | None = None) -> TimedMessage | None:
        """The next message, waiting up to ``timeout`` seconds (None: forever, 0: not at all)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if deadline is None:
                    when, data = self._queue.get()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        when, data = self._queue.get_nowait()
                    else:
                        when, data = self._queue.get(timeout=remaining)
            except queue.Empty:
                return None
            msg = _parse(data)
            if msg is not None:
                return TimedMessage(when, msg)
            self.invalid += 1

    def pending(self) -> list[TimedMessage]:
        """Every message waiting now, oldest first."""
        out = []
        while (item := self.receive(0)) is not None:
            out.append(item)
        return out

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._close_backend()
            except Exception as err:
                log.debug("closing %s: %s", self.name, err)

    def _close_backend(self) -> None:
        raise NotImplementedError  # abstract


def _parse(data: bytes | list[int]) -> Any:
    import mido

    try:
        return mido.Message.from_bytes(data)
    except (ValueError, TypeError):
        return None


# ------------------------------------------------------------ loop-back


class LoopbackOutput(OutputPort):
    """An output that records what it is sent and passes it to connected inputs.

    For tests of timing arithmetic and fault injection (a real JACK port cannot
    be made to vanish at an exact moment of a manual clock).
    """

    def __init__(self, name: str = "loopback", now: Now = time.monotonic) -> None:
        super().__init__(name)
        self._now = now
        self.sent: list[TimedMessage] = []
        self._targets: list[LoopbackInput] = []

    def connect(self, target: LoopbackInput) -> None:
        self._targets.append(target)

    def _write(self, msg: Any) -> None:
        self.sent.append(TimedMessage(self._now(), msg))
        for target in self._targets:
            target.inject(msg)

    def _close_backend(self) -> None:
        self._targets.clear()

    def vanish(self) -> None:
        """Pretend the destination disappeared (as the watcher would report it)."""
        self.connected = False
        self._report(PortEvent("vanished", self.name))

    def come_back(self) -> None:
        """Pretend the destination returned: turn off what it held, as a real port does."""
        _reconnected(self)
        self._report(PortEvent("returned", self.name))


class LoopbackInput(InputPort):
    """An input fed by ``inject`` (or by a connected :class:`LoopbackOutput`)."""

    def __init__(self, name: str = "loopback", now: Now = time.monotonic) -> None:
        super().__init__(name, now)

    def inject(self, msg: Any, when: float | None = None) -> None:
        if self.connected and not self._closed:
            self._enqueue(msg.bytes(), when)

    def _close_backend(self) -> None:
        pass

    def vanish(self) -> None:
        self.connected = False
        self._report(PortEvent("vanished", self.name))

    def come_back(self) -> None:
        self.connected = True
        self._report(PortEvent("returned", self.name))


def loopback_pair(
    name: str = "loopback", now: Now = time.monotonic
) -> tuple[LoopbackOutput, LoopbackInput]:
    """An output wired to an input, both stamping times with ``now``."""
    out = LoopbackOutput(name, now)
    inp = LoopbackInput(name, now)
    out.connect(inp)
    return out, inp


def _reconnected(port: OutputPort) -> None:
    """A destination came back: whatever it was holding when it went, turn off."""
    with port._lock:
        port.connected = True
    port.panic()


# ------------------------------------------------------------ real ports


def _strip_alsa_numbers(name: str) -> str:
    """ALSA names end in client:port numbers ("Keystation:Keystation MIDI 1 24:0"),
    which change when a device is plugged in again."""
    return re.sub(r"\s+\d+:\d+$", "", name)


def resolve_port(
    spec: str, names: list[str] | tuple[str, ...], kind: str, backend: str = ""
) -> str:
    """The one port name ``spec`` means: exact, then case-insensitive, then a substring.

    Raises PortError naming the ports that exist when none or several match.
    """
    if spec in names:
        return spec
    folded = spec.casefold()
    for candidates in (
        [n for n in names if n.casefold() == folded],
        [n for n in names if _strip_alsa_numbers(n).casefold() == folded],
        [n for n in names if folded in n.casefold()],
    ):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise PortError(
                f"MIDI {kind} name {spec!r} matches several ports: {', '.join(candidates)}",
                "give more of the name",
            )
    where = f" on {backend.upper()}" if backend else ""
    if names:
        raise PortError(
            f"no MIDI {kind} port{where} matches {spec!r}", f"{kind} ports: {', '.join(names)}"
        )
    raise PortError(
        f"no MIDI {kind} port{where} matches {spec!r}",
        f"there are no MIDI {kind} ports{where}; connect a device or start a synth",
    )


def list_ports(backend: str | None = None) -> PortList:
    """Input and output port names of ``backend`` (chosen automatically when None)."""
    import rtmidi

    backend = choose_backend(backend)
    prepare((backend,))
    with CLIENT_LOCK:
        try:
            midi_in = rtmidi.MidiIn(rtmidi_api(backend), name="composer-list")
            midi_out = rtmidi.MidiOut(rtmidi_api(backend), name="composer-list")
        except rtmidi.RtMidiError as err:
            raise PortError(f"cannot reach the {backend.upper()} MIDI system: {err}") from err
        try:
            return PortList(backend, tuple(midi_in.get_ports()), tuple(midi_out.get_ports()))
        finally:
            midi_in.delete()
            midi_out.delete()


class _RtPortMixin:
    """What real input and output ports share: the rtmidi object and reconnection."""

    backend: str
    spec: str | None
    virtual: bool
    target: str | None
    _rt: Any
    _lock: threading.RLock
    name: str
    connected: bool
    _closed: bool
    _is_input: bool

    def _make_rt(self) -> Any:
        import rtmidi

        client = CLIENT_IN if self._is_input else CLIENT_OUT
        cls = rtmidi.MidiIn if self._is_input else rtmidi.MidiOut
        try:
            with CLIENT_LOCK:
                return cls(rtmidi_api(self.backend), name=client)
        except rtmidi.RtMidiError as err:
            raise PortError(
                f"cannot reach the {self.backend.upper()} MIDI system: {err}",
                "is the JACK server running?" if self.backend == "jack" else None,
            ) from err

    def _open_rt(self, names: list[str] | None = None) -> None:
        """Create the rtmidi client and open the port (virtual or connected to ``target``)."""
        import rtmidi

        rt = self._make_rt()
        try:
            with CLIENT_LOCK:
                self._open_port(rt, names)
        except (rtmidi.RtMidiError, ValueError) as err:
            with CLIENT_LOCK:
                rt.delete()
            raise PortError(f"cannot open MIDI port {self.spec or PORT_NAME}: {err}") from err
        except PortError:
            with CLIENT_LOCK:
                rt.delete()
            raise
        self._rt = rt
        self._after_open()

    def _open_port(self, rt: Any, names: list[str] | None) -> None:
        if self.virtual:
            rt.open_virtual_port(PORT_NAME)
            self.target = None
        else:
            names = rt.get_ports() if names is None else names
            kind = "input" if self._is_input else "output"
            self.target = resolve_port(self.spec or "", names, kind, self.backend)
            rt.open_port(list(rt.get_ports()).index(self.target), PORT_NAME)

    def _after_open(self) -> None:
        pass

    def _drop_rt(self, server_alive: bool = True) -> None:
        rt, self._rt = self._rt, None
        if rt is None:
            return
        if not server_alive:
            _abandon(rt)
            return
        with CLIENT_LOCK:
            with contextlib.suppress(Exception):
                rt.close_port()
            with contextlib.suppress(Exception):
                rt.delete()

    # Called by the watcher thread.
    def _check(self, sources: list[str], destinations: list[str]) -> PortEvent | None:
        names = sources if self._is_input else destinations
        with self._lock:
            if self._closed or self.virtual:
                return None
            if self.connected and self.target not in names:
                self.connected = False
                return PortEvent("vanished", self.target or str(self.spec))
            if not self.connected:
                match = _find_again(self.target, self.spec, names)
                if match is None:
                    return None
                try:
                    with CLIENT_LOCK:
                        self._rt.close_port()
                        self._rt.open_port(list(self._rt.get_ports()).index(match), PORT_NAME)
                    self._after_open()
                except Exception as err:
                    log.debug("reopening %s: %s", match, err)
                    return None
                self.target = match
                self._set_connected()
                return PortEvent("returned", match)
        return None

    def _server_lost(self) -> PortEvent | None:
        with self._lock:
            if self._closed or not self.connected and self._rt is None:
                return None
            self.connected = False
            self._drop_rt(server_alive=False)
            return PortEvent("server_lost", self.name)

    def _server_back(self, sources: list[str], destinations: list[str]) -> PortEvent | None:
        with self._lock:
            if self._closed or self._rt is not None:
                return None
            names = sources if self._is_input else destinations
            if not self.virtual and _find_again(self.target, self.spec, names) is None:
                return None
            try:
                self._open_rt()
            except PortError as err:
                log.debug("reopening after server restart: %s", err)
                return None
            self._set_connected()
            return PortEvent("server_back", self.name)

    def _set_connected(self) -> None:
        self.connected = True


_closing: list[threading.Thread] = []


def _close_later(client: Any) -> None:
    """Close an output's rtmidi client once JACK has had time to take its last messages."""

    def close() -> None:
        time.sleep(JACK_FLUSH_S)
        with CLIENT_LOCK:
            with contextlib.suppress(Exception):
                client.close_port()
            with contextlib.suppress(Exception):
                client.delete()

    thread = threading.Thread(target=close, name="midi-close", daemon=True)
    thread.start()
    _closing[:] = [t for t in _closing if t.is_alive()] + [thread]


def _finish_closing() -> None:
    for thread in list(_closing):
        thread.join(2 * JACK_FLUSH_S)


def _abandon(client: Any) -> None:
    """Keep a client of a JACK server that died from ever being closed.

    RtMidi closing or deleting such a client crashes the process (in libjack,
    at random), so it is left allocated on purpose, even past interpreter exit:
    a few kilobytes once per server restart, against a crash mid-jam.
    """
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(client))


def _find_again(target: str | None, spec: str | None, names: list[str]) -> str | None:
    """The name under which a vanished port came back, if it did (and unambiguously)."""
    if target in names:
        return target
    if target is not None:
        stripped = _strip_alsa_numbers(target)
        same = [n for n in names if _strip_alsa_numbers(n) == stripped]
        if len(same) == 1:
            return same[0]
    if spec:
        try:
            return resolve_port(spec, names, "")
        except PortError:
            return None
    return None


class RtOutput(_RtPortMixin, OutputPort):
    """An ALSA or JACK output: connected to an existing port, or composer's own virtual one."""

    _is_input = False

    def __init__(
        self, spec: str | None = None, backend: str | None = None, virtual: bool = False
    ) -> None:
        if spec is None and not virtual:
            raise PortError("no MIDI output given", "name a port, or use composer's virtual port")
        self.backend = choose_backend(backend)
        prepare((self.backend,))
        self.spec, self.virtual, self.target, self._rt = spec, virtual, None, None
        OutputPort.__init__(self, spec or f"{CLIENT_OUT}:{PORT_NAME}")
        try:
            self._open_rt()
        except PortError:
            OutputPort.close(self)
            raise
        self.name = self.target or self._own_name()
        self._watcher = _watcher(self.backend)
        self._watcher.add(self)

    def _own_name(self) -> str:
        return f"{CLIENT_OUT}:{PORT_NAME}"

    def _write(self, msg: Any) -> None:
        rt = self._rt
        if rt is None:
            return
        try:
            rt.send_message(msg.bytes())
        except Exception as err:  # rtmidi raises on a dead client; report once, as ours
            raise PortError(f"MIDI output {self.name} failed: {err}") from err

    def _set_connected(self) -> None:
        _reconnected(self)

    def _close_backend(self) -> None:
        if hasattr(self, "_watcher"):
            self._watcher.discard(self)
        if self.backend == "jack" and self.connected and self._rt is not None:
            # RtMidi hands JACK the messages at its next cycles (late ones on a busy
            # machine); closing sooner would drop the panic just sent.
            rt, self._rt = self._rt, None
            _close_later(rt)
            return
        self._drop_rt()


class RtInput(_RtPortMixin, InputPort):
    """An ALSA or JACK input. System exclusive and clock messages are kept; active
    sensing (a keep-alive some keyboards send 3 times a second) is dropped."""

    _is_input = True

    def __init__(
        self,
        spec: str | None = None,
        backend: str | None = None,
        virtual: bool = False,
        now: Now = time.monotonic,
    ) -> None:
        if spec is None and not virtual:
            raise PortError("no MIDI input given", "name a port, or use composer's virtual port")
        self.backend = choose_backend(backend)
        prepare((self.backend,))
        self.spec, self.virtual, self.target, self._rt = spec, virtual, None, None
        InputPort.__init__(self, spec or f"{CLIENT_IN}:{PORT_NAME}", now)
        self._reader = InputReader(self._take, self._arrived, now, name="midi-in")
        try:
            self._open_rt()
        except PortError:
            self._reader.stop()
            self._closed = True
            raise
        self.name = self.target or f"{CLIENT_IN}:{PORT_NAME}"
        self._watcher = _watcher(self.backend)
        self._watcher.add(self)

    def _after_open(self) -> None:
        self._rt.ignore_types(sysex=False, timing=False, active_sense=True)
        self._reader.restart_clock()  # a reopened port starts a new stream of gaps

    def _take(self) -> RawMessage | None:
        with self._lock:  # never while the watcher reopens or a close deletes the client
            rt = self._rt
            return None if rt is None else rt.get_message()

    def _arrived(self, when: float, data: list[int]) -> None:
        self._enqueue(data, when)

    def _close_backend(self) -> None:
        if hasattr(self, "_watcher"):
            self._watcher.discard(self)
        self._reader.stop()  # before the lock: the reader takes it for every poll
        with self._lock:
            self._drop_rt()


def open_output(
    spec: str | None = None, backend: str | None = None, virtual: bool = False
) -> RtOutput:
    """Open an output by name or substring, or composer's own virtual output."""
    return RtOutput(spec, backend, virtual)


def open_input(
    spec: str | None = None,
    backend: str | None = None,
    virtual: bool = False,
    now: Now = time.monotonic,
) -> RtInput:
    """Open an input by name or substring, or composer's own virtual input."""
    return RtInput(spec, backend, virtual, now)


# ------------------------------------------------------------ watcher


class _Watcher:
    """One thread per backend that polls the port lists and tells ports what changed.

    It keeps its own rtmidi clients (opening a client per poll would make JACK
    reorder its graph four times a second). On JACK, when ports vanish it
    checks whether the server itself went away; a fresh client that cannot
    connect means it did, and every port reopens when one can again.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._ports: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._clients: tuple[Any, Any] | None = None
        self._last: tuple[list[str], list[str]] = ([], [])
        self.server_up = True

    def add(self, port: Any) -> None:
        with self._lock:
            self._ports.add(port)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"midi-watch-{self.backend}", daemon=True
                )
                self._thread.start()

    def discard(self, port: Any) -> None:
        with self._lock:
            self._ports.discard(port)

    def _snapshot(self) -> list[Any]:
        with self._lock:
            return list(self._ports)

    def _open_clients(self) -> tuple[Any, Any] | None:
        import rtmidi

        try:
            with CLIENT_LOCK:
                return (
                    rtmidi.MidiIn(rtmidi_api(self.backend), name="composer-watch"),
                    rtmidi.MidiOut(rtmidi_api(self.backend), name="composer-watch"),
                )
        except rtmidi.RtMidiError:
            return None

    def _close_clients(self, server_alive: bool = True) -> None:
        clients, self._clients = self._clients, None
        for client in clients or ():
            if not server_alive:
                _abandon(client)
                continue
            with CLIENT_LOCK, contextlib.suppress(Exception):
                client.delete()

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_INTERVAL_S)
            with self._lock:
                if not self._ports:  # decided under the lock, so add() starts a new thread
                    # The clients stay open for the next port: closing a JACK client
                    # races with a server that is going away (libjack then crashes
                    # the process), and poll() already replaces clients of a dead server.
                    self._last = ([], [])
                    self._thread = None
                    return
            try:
                self.poll()
            except Exception:  # the watcher must outlive any one bad poll
                log.exception("MIDI port watcher")

    def release_if_idle(self, timeout: float = 4 * WATCH_INTERVAL_S) -> None:
        """Close the kept clients once no port is open and the thread has ended."""
        if self._ports:
            return
        deadline = time.monotonic() + timeout
        while self._thread is not None and time.monotonic() < deadline:
            time.sleep(WATCH_INTERVAL_S / 5)
        with self._lock:
            if self._ports or self._thread is not None:
                return
            self._close_clients(server_alive=self.server_up)

    def poll(self) -> None:
        """Compare the port lists with the last ones and tell the ports."""
        if self._clients is None:
            self._clients = self._open_clients()
            if self._clients is None:
                self._mark_server(False)
                return
        with CLIENT_LOCK:
            sources, destinations = (list(c.get_ports()) for c in self._clients)
        before = self._last
        vanished = bool(set(before[0]) - set(sources) or set(before[1]) - set(destinations))
        if self.backend == "jack" and (vanished or not self.server_up):
            fresh = self._open_clients()
            if fresh is None:
                self._close_clients(server_alive=False)
                self._mark_server(False)
                return
            with CLIENT_LOCK:
                fresh_lists = tuple(list(c.get_ports()) for c in fresh)
            # A client of a server that died lists nothing; a fresh one sees the new server.
            stale = not sources and not destinations and any(fresh_lists)
            if stale or not self.server_up:
                # Our clients belonged to a server that is gone (or were opened this
                # poll, when it came back); the fresh ones see the running server.
                self._close_clients(server_alive=not self.server_up)
                self._clients = fresh
                sources, destinations = fresh_lists
                if self.server_up:
                    self._mark_server(False)
                self._mark_server(True, sources, destinations)
                with CLIENT_LOCK:
                    sources, destinations = (list(c.get_ports()) for c in self._clients)
            else:
                with CLIENT_LOCK:
                    for client in fresh:
                        client.delete()
        self._last = (sources, destinations)
        for port in self._snapshot():
            event = port._check(sources, destinations)
            if event is not None:
                port._report(event)

    def _mark_server(
        self, up: bool, sources: list[str] | None = None, destinations: list[str] | None = None
    ) -> None:
        if up == self.server_up and up is False:
            return
        self.server_up = up
        for port in self._snapshot():
            event = (
                port._server_lost()
                if not up
                else port._server_back(sources or [], destinations or [])
            )
            if event is not None:
                port._report(event)


_WATCHERS: dict[str, _Watcher] = {}
_WATCHERS_LOCK = threading.Lock()


def _watcher(backend: str, server: str | None = None) -> _Watcher:
    """The watcher of one MIDI system (for JACK: of the server $JACK_DEFAULT_SERVER names)."""
    if backend == "jack" and server is None:
        server = os.environ.get("JACK_DEFAULT_SERVER", "default")
    key = f"{backend}:{server or ''}"
    with _WATCHERS_LOCK:
        if key not in _WATCHERS:
            _WATCHERS[key] = _Watcher(backend)
        return _WATCHERS[key]


def release_idle_clients() -> None:
    """Close every JACK/ALSA client this process keeps while no port is open.

    Call it before stopping a server this process started (tests, benches): a
    client still open on a server that goes away can crash libjack.
    """
    _finish_closing()
    with _WATCHERS_LOCK:
        watchers = list(_WATCHERS.values())
    for watcher in watchers:
        watcher.release_if_idle()


# ------------------------------------------------------------ exit safety

_OPEN_OUTPUTS: weakref.WeakSet[OutputPort] = weakref.WeakSet()


def panic_all_outputs() -> None:
    """Panic every output still open in this process (used at exit and on signals)."""
    for port in list(_OPEN_OUTPUTS):
        port.panic()


def close_all_outputs() -> None:
    for port in list(_OPEN_OUTPUTS):
        port.close()


def _at_exit() -> None:
    close_all_outputs()
    _finish_closing()


atexit.register(_at_exit)


def install_exit_handlers() -> None:
    """Make SIGTERM and SIGHUP leave like Ctrl-C does: through ``finally`` blocks and
    atexit, so every open output is silenced. Only in the main thread, and only
    where nobody installed a handler of their own."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _exit_on_signal)


def _exit_on_signal(signum: int, frame: object) -> None:
    panic_all_outputs()
    raise SystemExit(128 + signum)
