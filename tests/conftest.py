"""Fixtures shared by every test folder: one real JACK server for the whole run.

The machines that run the tests have no ALSA sequencer, so this starts Debian's
``jackd --no-realtime -d dummy -r 48000 -p 256`` under a name of its own. The
live and the editor tests share it: a second server coming and going beside the
first is exactly what libjack copes with worst. Nothing is skipped when JACK is
missing: the fixture fails, as the test would on a user's machine.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def jack_server():
    from composer.live.jackd import JackServer, boost_priority

    # JACK's threads must not starve behind other busy jobs on the machine (they run
    # at realtime priority on an audio setup): raise ours where allowed.
    boost_priority()
    server = JackServer(period=256).start()
    yield server
    server.stop()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "jack: uses the session's JACK server (run.sh runs these in a process of their own)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "jack_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.jack)
