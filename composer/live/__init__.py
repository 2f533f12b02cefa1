"""composer.live: MIDI ports, playback, recording, clock and jam sessions.

python-rtmidi's wheels carry their own copy of libjack, which need not match
the JACK server on the machine (here 1.9.22 against Debian's 1.9.21). Client
and server share memory laid out by their own versions, so a mismatch
corrupts memory at random. Loading the system's libjack first, with global
symbols, makes rtmidi's JACK calls bind to the library that came with the
server. Every rtmidi import in composer happens inside this package, after this.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def _prefer_system_libjack() -> None:
    name = ctypes.util.find_library("jack")
    if name is None:  # no JACK on this machine: rtmidi uses ALSA or its own copy
        return
    try:
        ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return


_prefer_system_libjack()
