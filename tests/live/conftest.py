"""Fixtures for the live tests: a probe client on the session's JACK server
(``jack_server`` in tests/conftest.py)."""

from __future__ import annotations

import re

import pytest

from composer.live.probe import JackProbe

PERIOD_S = 256 / 48000


@pytest.fixture
def probe(jack_server, request):
    name = "p-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:28]
    with JackProbe(name) as p:
        yield p
