"""Fixtures for the live tests: a real JACK server for the session, and a probe client.

The machines that run the tests have no ALSA sequencer, so these start Debian's
``jackd --no-realtime -d dummy -r 48000 -p 256`` (with --sync, see JackServer)
under a name of their own; nothing is skipped when JACK is missing: the fixture
fails, as the test would on a user's machine.
"""

from __future__ import annotations

import re

import pytest

from composer.live.jackd import JackServer, boost_priority
from composer.live.probe import JackProbe

PERIOD_S = 256 / 48000


@pytest.fixture(scope="session")
def jack_server():
    # JACK's threads must not starve behind other busy jobs on the machine (they run
    # at realtime priority on an audio setup): raise ours where allowed.
    boost_priority()
    server = JackServer(period=256).start()
    yield server
    server.stop()


@pytest.fixture
def probe(jack_server, request):
    name = "p-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:28]
    with JackProbe(name) as p:
        yield p
