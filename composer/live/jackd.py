"""Start and stop a private JACK server (Debian's jackd2) with no sound card.

The tests and ``composer bench live`` use this where no ALSA sequencer exists:
``jackd --no-realtime -d dummy -r 48000 -p 256`` runs a real JACK graph driven
by a timer. Each server gets its own name, which clients find through the
``JACK_DEFAULT_SERVER`` environment variable, so parallel runs never meet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from composer.errors import PortError
from composer.live.backends import jack_server_running, prepare

log = logging.getLogger(__name__)

SERVER_ENV = "JACK_DEFAULT_SERVER"
PRIORITY_BOOST = -15
REALTIME_PRIORITY = 70  # jackd -P: the usual choice of audio setups (clients run just below)
"""Niceness added to the server we start (only root may raise priority; others keep it)."""


class JackServer:
    """One jackd process; ``with JackServer() as server:`` starts and stops it.

    ``period`` frames at ``rate`` Hz set JACK's cycle (256 at 48 kHz is 5.3 ms):
    MIDI written by one client reaches the next at the following cycle, so the
    period bounds how exactly events can be timed through the graph.

    The server runs in JACK's default asynchronous mode, as on users'
    machines. Without realtime scheduling on an overloaded machine a client's
    thread is sometimes late for its cycle, and JACK then drops the MIDI it
    wrote (measured here at a load of 13 on 2 cores: 0 to 2.5% of a burst).
    Synchronous mode (--sync) avoids that but stalls whole seconds whenever a
    client calls into JACK while another client in the same Python process
    waits for the interpreter lock, so it is not used. ``realtime=True`` runs
    the server and its clients' threads at realtime priority, as a live audio
    setup does (where the system allows it: see :func:`realtime_allowed`).
    """

    def __init__(
        self,
        name: str | None = None,
        rate: int = 48000,
        period: int = 256,
        set_default: bool = True,
        realtime: bool = False,
    ) -> None:
        self.name = name or f"composer-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rate = rate
        self.period = period
        self.realtime = realtime
        self.set_default = set_default
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._previous_default: str | None = None

    @property
    def period_ms(self) -> float:
        return 1000.0 * self.period / self.rate

    def start(self, timeout: float = 15.0, attempts: int = 3) -> JackServer:
        """Start jackd and wait until it answers (retrying: on a very busy machine
        jackd now and then exits at start without a word)."""
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except PortError:
                if attempt == attempts - 1:
                    raise
                log.info("jackd did not start; trying again")
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> JackServer:
        jackd = shutil.which("jackd")
        if jackd is None:
            raise PortError("jackd is not installed", "install Debian's jackd2 package")
        prepare(("jack",))
        fd, log_name = tempfile.mkstemp(prefix="composer-jackd-", suffix=".log")
        self._log_path = Path(log_name)
        command = [
            jackd,
            *(["-R", "-P", str(REALTIME_PRIORITY)] if self.realtime else ["--no-realtime"]),
            "-n",
            self.name,
            "-d",
            "dummy",
            "-r",
            str(self.rate),
            "-p",
            str(self.period),
        ]
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        with os.fdopen(fd, "wb") as log_file:
            self.process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if self.set_default:
            self._previous_default = os.environ.get(SERVER_ENV)
            os.environ[SERVER_ENV] = self.name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                lines = self.log_text().strip().splitlines()
                if any("Too many servers" in line for line in lines):
                    _clear_stale_registry()
                self.stop()
                raise PortError(
                    f"jackd exited at start (code {code}): {lines[-1] if lines else 'no output'}"
                )
            if self._answers():
                log.info("JACK server %s is up (pid %d)", self.name, self.process.pid)
                return self
            time.sleep(0.05)
        self.stop()
        raise PortError(f"jackd did not answer within {timeout:g} s")

    def _answers(self) -> bool:
        saved = os.environ.get(SERVER_ENV)
        os.environ[SERVER_ENV] = self.name
        try:
            return jack_server_running()
        finally:
            if not self.set_default:
                if saved is None:
                    os.environ.pop(SERVER_ENV, None)
                else:
                    os.environ[SERVER_ENV] = saved

    def log_text(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate this server (only the process this object started); idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            from composer.live.ports import release_idle_clients

            release_idle_clients()  # a client left on a vanishing server can crash libjack
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self.set_default and os.environ.get(SERVER_ENV) == self.name:
            if self._previous_default is None:
                os.environ.pop(SERVER_ENV, None)
            else:
                os.environ[SERVER_ENV] = self._previous_default
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def realtime_allowed() -> bool:
    """Whether this process may schedule threads at realtime priority (root, or a
    realtime limit such as an audio group's), as jackd -R needs."""
    import resource

    with contextlib.suppress(AttributeError, OSError, ValueError):
        if os.geteuid() == 0:
            return True
        soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
        return soft == resource.RLIM_INFINITY or soft >= REALTIME_PRIORITY
    return False


def boost_priority() -> bool:
    """Run this thread, and the threads it starts from now on (libjack's among them),
    ahead of ordinary work, as audio setups run JACK clients; only where allowed
    (root). For tests and benchmarks sharing a machine with busy jobs."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY_BOOST)
    except OSError:
        return False
    return True


def _die_with_parent() -> None:
    """In the child before exec: have Linux stop this server if the process that
    started it dies without stopping it (a crashed test run leaves no jackd); and
    run it ahead of ordinary work where allowed (as root), as a realtime server
    would be, so other busy programs do not make it miss its cycles."""
    import ctypes
    import signal

    with contextlib.suppress(OSError):
        os.nice(PRIORITY_BOOST)

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _clear_stale_registry() -> None:
    """Forget servers that died without signing out of JACK's shared-memory registry.

    JACK allows a few servers per machine and counts every entry whose process
    id is alive, so crashed servers whose ids were reused block new ones
    ("Too many servers already active"). Only when no jackd runs at all is the
    registry removed (jackd writes a new one).
    """
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("jackd", "jackdmp"):
                return
        except OSError:
            continue
    registry = Path("/dev/shm/jack-shm-registry")
    try:
        registry.unlink(missing_ok=True)
        log.warning("removed a stale JACK registry (servers that crashed left it full)")
    except OSError as err:
        log.debug("cannot remove %s: %s", registry, err)
