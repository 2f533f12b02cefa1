"""A second JACK client that plays the musician and the synth around composer.

``composer bench live`` and the tests over real ports use it: ``keys`` is a
virtual keyboard (an output port composer listens to) and ``synth`` a virtual
synth (an input port composer plays to). Every arrival is stamped with the
same monotonic clock composer schedules by; the synth reads its port as
composer's inputs do (:mod:`composer.live.arrivals`), never by a callback.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from composer.live.arrivals import InputReader


class JackProbe:
    """Keyboard ``{name}-keyboard:keys`` and synth ``{name}-synth:in`` on the JACK server."""

    def __init__(self, name: str = "composer-probe", keep: bool = True) -> None:
        import rtmidi

        from composer.live.backends import CLIENT_LOCK, prepare

        prepare(("jack",))
        self._clients = CLIENT_LOCK
        self.name = name
        self.keep = keep
        self.arrivals: list[tuple[float, list[int]]] = []
        self.sounding: dict[tuple[int, int], int] = {}
        self.received = 0
        self.sent = 0
        self._lock = threading.Lock()
        self.keys: Any = None
        self.plug_keyboard()
        with CLIENT_LOCK:
            self.synth = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"{name}-synth")
            self.synth.open_virtual_port("in")
        self.synth.ignore_types(sysex=False, timing=False, active_sense=True)
        self._reader = InputReader(self.synth.get_message, self._arrive, name="probe-synth")

    @property
    def keys_name(self) -> str:
        return f"{self.name}-keyboard:keys"

    @property
    def synth_name(self) -> str:
        return f"{self.name}-synth:in"

    def plug_keyboard(self) -> None:
        """Create (again) the keyboard port, as plugging a controller in does."""
        import rtmidi

        if self.keys is None:
            with self._clients:
                self.keys = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"{self.name}-keyboard")
                self.keys.open_virtual_port("keys")

    def unplug_keyboard(self) -> None:
        """Remove the keyboard port, as pulling a controller's cable does."""
        keys, self.keys = self.keys, None
        if keys is not None:
            with self._clients:
                keys.close_port()
                keys.delete()

    def _arrive(self, now: float, raw: list[int]) -> None:
        with self._lock:
            self.received += 1
            if self.keep:
                self.arrivals.append((now, raw))
            status = raw[0] & 0xF0 if raw else 0
            if status in (0x80, 0x90) and len(raw) >= 3:
                key = (raw[0] & 0x0F, raw[1])
                if status == 0x90 and raw[2] > 0:
                    self.sounding[key] = self.sounding.get(key, 0) + 1
                elif key in self.sounding:
                    # A synth ends a key at its first note-off, however often it was struck.
                    del self.sounding[key]
            elif status == 0xB0 and len(raw) >= 3 and raw[1] in (120, 123):
                channel = raw[0] & 0x0F
                for key in [k for k in self.sounding if k[0] == channel]:
                    del self.sounding[key]

    def send(self, data: list[int]) -> float:
        """Send from the keyboard; returns the time just before sending."""
        now = time.monotonic()
        self.keys.send_message(data)
        self.sent += 1
        return now

    def reset(self) -> None:
        """Forget what arrived and what sounds; plug the keyboard in if it was pulled."""
        self.plug_keyboard()
        with self._lock:
            self.arrivals = []
            self.sounding.clear()

    def take_arrivals(self) -> list[tuple[float, list[int]]]:
        with self._lock:
            out, self.arrivals = self.arrivals, []
            return out

    def sounding_keys(self) -> list[tuple[int, int]]:
        with self._lock:
            return sorted(self.sounding)

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return bool(predicate())

    def close(self) -> None:
        self._reader.stop()
        self.unplug_keyboard()
        with self._clients:
            self.synth.close_port()
            self.synth.delete()

    def __enter__(self) -> JackProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def note_ons(arrivals: list[tuple[float, list[int]]]) -> list[tuple[float, int, int]]:
    """(time, channel, pitch) of the note-ons among raw arrivals."""
    return [
        (t, raw[0] & 0x0F, raw[1])
        for t, raw in arrivals
        if raw and raw[0] & 0xF0 == 0x90 and len(raw) >= 3 and raw[2] > 0
    ]
