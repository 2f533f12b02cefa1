"""A synth for people with no MIDI gear: FluidSynth as a child process.

``start_synth()`` launches ``fluidsynth`` with the General MIDI soundfont, its
MIDI input on the same system composer uses (a JACK port here, an ALSA
sequencer port on desktops) and its audio on JACK or PulseAudio/ALSA, waits
for its MIDI port to appear and returns a :class:`Synth` naming that port.
``stop()`` asks it to quit through its shell and kills it only if it will not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from composer.errors import AudioError
from composer.live.backends import CLIENT_LOCK, choose_backend, prepare, rtmidi_api

log = logging.getLogger(__name__)

SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
)
CLIENT_ID = "composer-synth"


@dataclass
class Synth:
    """A running FluidSynth: its MIDI input port (for ``open_output``) and process."""

    port_name: str
    backend: str
    process: subprocess.Popen[bytes] = field(repr=False)
    soundfont: Path

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Quit FluidSynth (idempotent)."""
        process = self.process
        if process.poll() is not None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert process.stdin is not None
            process.stdin.write(b"quit\n")
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def __enter__(self) -> Synth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_soundfont() -> Path:
    for path in SOUNDFONTS:
        if path.exists():
            return path
    raise AudioError(
        "no General MIDI soundfont found", "install Debian's fluid-soundfont-gm package"
    )


def _audio_driver(backend: str) -> str:
    if backend == "jack":
        return "jack"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.environ.get("PULSE_SERVER") or (runtime and Path(runtime, "pulse", "native").exists()):
        return "pulseaudio"  # PipeWire desktops answer here too
    return "alsa"


def start_synth(
    backend: str | None = None,
    soundfont: str | Path | None = None,
    audio_driver: str | None = None,
    gain: float = 0.6,
    timeout: float = 20.0,
) -> Synth:
    """Start FluidSynth and wait until its MIDI input port exists."""
    import rtmidi

    exe = shutil.which("fluidsynth")
    if exe is None:
        raise AudioError("FluidSynth is not installed", "install Debian's fluidsynth package")
    backend = choose_backend(backend)
    prepare((backend,))
    font = Path(soundfont) if soundfont else default_soundfont()
    if not font.exists():
        raise AudioError(f"soundfont {font} does not exist")
    audio = audio_driver or _audio_driver(backend)
    midi = "jack" if backend == "jack" else "alsa_seq"
    command = [
        exe,
        "-a",
        audio,
        "-m",
        midi,
        "-g",
        f"{gain:g}",
        "-o",
        f"midi.{'jack' if midi == 'jack' else 'alsa_seq'}.id={CLIENT_ID}",
    ]
    if audio == "jack":
        command += ["-o", f"audio.jack.id={CLIENT_ID}", "-o", "audio.jack.autoconnect=1"]
    command.append(str(font))
    try:
        with CLIENT_LOCK:
            watcher = rtmidi.MidiOut(rtmidi_api(backend), name="composer-synth-watch")
    except rtmidi.RtMidiError as err:
        raise AudioError(
            f"cannot reach the {backend.upper()} MIDI system to start the synth: {err}"
        ) from err
    try:
        before = set(watcher.get_ports())
        with tempfile.TemporaryFile() as errors:
            # The shell reads stdin: kept open it keeps FluidSynth running, "quit" ends it.
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    errors.seek(0)
                    lines = errors.read().decode(errors="replace").strip().splitlines()
                    raise AudioError(
                        f"FluidSynth stopped at start: {lines[-1] if lines else 'no message'}"
                    )
                new = [p for p in watcher.get_ports() if p not in before and CLIENT_ID in p]
                if new:
                    log.info("FluidSynth %d listens on %s", process.pid, new[0])
                    return Synth(new[0], backend, process, font)
                time.sleep(0.05)
        Synth("", backend, process, font).stop()
        raise AudioError(f"FluidSynth did not open its MIDI port within {timeout:g} s")
    finally:
        with CLIENT_LOCK:
            watcher.delete()
