"""Which MIDI system to talk to: the ALSA sequencer or a JACK server.

python-rtmidi is built with both; ``choose_backend`` picks ALSA where the
sequencer device exists (a normal Linux desktop) and JACK otherwise (build
machines, studios running JACK). ``--backend`` on the command line and the
``COMPOSER_MIDI_BACKEND`` environment variable override the choice.

Ports talk to python-rtmidi directly (``rtmidi.MidiIn(rtmidi.API_UNIX_JACK, ...)``,
the API that mido's ``mido.Backend('mido.backends.rtmidi/UNIX_JACK')`` wraps)
because composer names its JACK/ALSA clients, keeps one client alive to watch
ports come and go, and stamps arrival times itself; messages are mido's.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import logging
import os
import threading
from pathlib import Path

from composer.errors import InvalidArgumentError, PortError

log = logging.getLogger(__name__)

BACKENDS = ("alsa", "jack")
ENV_VAR = "COMPOSER_MIDI_BACKEND"
ALSA_SEQ_DEVICE = Path("/dev/snd/seq")

_quiet_lock = threading.Lock()
_quieted = False

CLIENT_LOCK = threading.RLock()
"""Held around every MIDI client open and close (and port open, close and listing)
in this process: libjack crashes when two threads open and close clients at once."""


def rtmidi_api(backend: str) -> int:
    """python-rtmidi's API constant for a backend name."""
    import rtmidi

    if backend == "alsa":
        return int(rtmidi.API_LINUX_ALSA)
    if backend == "jack":
        return int(rtmidi.API_UNIX_JACK)
    raise InvalidArgumentError(
        f"unknown MIDI backend {backend!r}", f"choose one of {', '.join(BACKENDS)}"
    )


def compiled_backends() -> list[str]:
    """The backends this python-rtmidi build can use."""
    import rtmidi

    apis = set(rtmidi.get_compiled_api())
    return [b for b in BACKENDS if rtmidi_api(b) in apis]


def choose_backend(requested: str | None = None) -> str:
    """The backend to use: ``requested``, else $COMPOSER_MIDI_BACKEND, else automatic.

    Automatic means ALSA when its sequencer device is present, JACK when a
    JACK server answers; a PortError says what to start when neither does.
    """
    name = (requested or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if name not in (*BACKENDS, "auto"):
        source = "--backend" if requested else ENV_VAR
        raise InvalidArgumentError(
            f"{source}: unknown MIDI backend {name!r}", "use alsa, jack or auto"
        )
    available = compiled_backends()
    if name != "auto":
        if name not in available:
            raise PortError(f"this python-rtmidi was built without {name.upper()} support")
        return name
    if "alsa" in available and ALSA_SEQ_DEVICE.exists():
        return "alsa"
    if "jack" in available and jack_server_running():
        return "jack"
    raise PortError(
        "no MIDI system found: no ALSA sequencer (/dev/snd/seq) and no JACK server running",
        "load the snd-seq kernel module, or start JACK (e.g. jackd -d dummy -r 48000 -p 256)",
    )


def jack_server_running() -> bool:
    """Whether a JACK server answers a client (the one $JACK_DEFAULT_SERVER names)."""
    import rtmidi

    prepare(("jack",))
    with CLIENT_LOCK:
        try:
            probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="composer-probe")
        except rtmidi.RtMidiError:
            return False
        probe.delete()
    return True


def prepare(backends: tuple[str, ...] | list[str]) -> None:
    """Process-wide set-up before a backend's first client: JACK must not start a
    server of its own (it would grab the sound card with default settings) and
    its C library must not print to the terminal (composer reports instead)."""
    if "jack" in backends:
        os.environ.setdefault("JACK_NO_START_SERVER", "1")
        _silence_libjack()


def _silence_libjack() -> None:
    """Point libjack's error and info printers at a function that prints nothing.

    libjack writes every lost connection to stderr from its own threads; the
    user sees composer's one-line report instead. The no-op is libc's strlen,
    a C function with the right argument type, because a Python callback could
    be called by libjack while the interpreter shuts down.
    """
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        _quieted = True
        try:
            libc = ctypes.CDLL(None)
            noop = ctypes.cast(libc.strlen, ctypes.c_void_p)
            for lib in _libjack_handles():
                for setter in ("jack_set_error_function", "jack_set_info_function"):
                    func = getattr(lib, setter)
                    func.argtypes = [ctypes.c_void_p]
                    func.restype = None
                    func(noop)
        except (OSError, AttributeError) as err:  # libjack messages then reach stderr: harmless
            log.debug("could not silence libjack: %s", err)


def _libjack_handles() -> list[ctypes.CDLL]:
    """Every libjack in the process: the system's, which rtmidi's calls bind to (see
    composer/live/__init__.py), and the copy a python-rtmidi wheel bundles."""
    import rtmidi

    handles = []
    with contextlib.suppress(OSError):
        handles.append(ctypes.CDLL("libjack.so.0"))
    site = Path(rtmidi.__file__).resolve().parent.parent
    for path in glob.glob(str(site / "python_rtmidi*" / "libjack*.so*")):
        with contextlib.suppress(OSError):
            handles.append(ctypes.CDLL(path))
    return handles
