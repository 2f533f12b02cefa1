"""Ports over a real JACK server, driven from a second client (the probe)."""

from __future__ import annotations

import time

import pytest
from live_helpers import real_time

from composer.errors import InvalidArgumentError, PortError
from composer.live.arrivals import InputReader
from composer.live.backends import CLIENT_LOCK, choose_backend
from composer.live.midi import note_on
from composer.live.ports import list_ports, open_input, open_output


def test_backend_is_jack_here_and_can_be_forced(jack_server, monkeypatch):
    assert choose_backend() == "jack"  # no /dev/snd/seq on these machines
    monkeypatch.setenv("COMPOSER_MIDI_BACKEND", "jack")
    assert choose_backend() == "jack"
    monkeypatch.setenv("COMPOSER_MIDI_BACKEND", "coreaudio")
    with pytest.raises(InvalidArgumentError, match="COMPOSER_MIDI_BACKEND"):
        choose_backend()
    assert choose_backend("jack") == "jack"


def test_list_and_open_by_substring(probe):
    ports = list_ports("jack")
    assert probe.keys_name in ports.inputs and probe.synth_name in ports.outputs
    with (
        open_input(probe.name + "-keyb", "jack") as inp,
        open_output(probe.name + "-SYNTH", "jack") as out,
    ):
        assert inp.name == probe.keys_name and out.name == probe.synth_name


def test_unknown_port_names_list_the_ports_that_exist(probe):
    with pytest.raises(PortError) as err:
        open_output("no-such-synth", "jack")
    assert probe.synth_name in err.value.one_line()
    import rtmidi

    with CLIENT_LOCK:
        pads = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"{probe.name}-pads")
        pads.open_virtual_port("keys")
    try:
        with pytest.raises(PortError, match="several"):
            open_input(probe.name, "jack")
    finally:
        with CLIENT_LOCK:
            pads.delete()


@real_time
def test_input_receives_notes_sysex_and_clock_with_arrival_times(probe):
    with open_input(probe.keys_name, "jack") as inp:
        time.sleep(0.05)
        before = time.monotonic()
        probe.send([0x90, 60, 100])
        probe.send([0xF0, 0x7D, 0x01, 0xF7])
        probe.send([0xF8])
        probe.send([0x80, 60, 0])
        got = [inp.receive(2.0) for _ in range(4)]
    assert [m.message.type for m in got] == ["note_on", "sysex", "clock", "note_off"]
    assert all(before <= m.time <= time.monotonic() for m in got)


@real_time
def test_virtual_ports_are_visible_to_other_clients(probe):
    with (
        open_output(virtual=True, backend="jack") as out,
        open_input(virtual=True, backend="jack") as inp,
    ):
        names = list_ports("jack")
        assert out.name in names.inputs and inp.name in names.outputs
        # the probe plays into composer's virtual input, as a DAW would
        import rtmidi

        with CLIENT_LOCK:
            daw = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="daw")
            daw.open_port(daw.get_ports().index(inp.name))
        try:
            time.sleep(0.05)
            daw.send_message([0x90, 64, 80])
            assert inp.receive(2.0).message.note == 64
        finally:
            with CLIENT_LOCK:
                daw.delete()


@real_time
def test_panic_and_close_turn_off_what_was_left_sounding(probe):
    out = open_output(probe.synth_name, "jack")
    time.sleep(0.05)
    out.send(note_on(0, 60, 90))
    out.send(note_on(2, 67, 90))
    assert probe.wait_for(lambda: len(probe.sounding_keys()) == 2)
    out.close()
    out.close()
    assert probe.wait_for(lambda: probe.sounding_keys() == [])
    controls = {
        (raw[0] & 0x0F, raw[1]) for _, raw in probe.take_arrivals() if raw[0] & 0xF0 == 0xB0
    }
    assert {(0, 123), (2, 123), (0, 121), (2, 121)} <= controls


@real_time
def test_a_vanished_input_is_reported_and_reopened_when_it_returns(probe):
    events = []
    with open_input(probe.keys_name, "jack") as inp:
        inp.add_listener(events.append)
        probe.unplug_keyboard()
        assert probe.wait_for(lambda: [e.kind for e in events] == ["vanished"], 5)
        assert not inp.connected
        probe.plug_keyboard()
        assert probe.wait_for(lambda: [e.kind for e in events] == ["vanished", "returned"], 5)
        time.sleep(0.05)
        probe.send([0x90, 61, 90])
        assert inp.receive(2.0).message.note == 61


@real_time
def test_a_vanished_output_drops_messages_and_is_silenced_when_back(jack_server):
    import rtmidi

    def synth():
        with CLIENT_LOCK:
            port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gone-synth")
            port.open_virtual_port("in")
        return port

    first = synth()
    events = []
    with open_output("gone-synth:in", "jack") as out:
        out.add_listener(events.append)
        out.send(note_on(0, 60, 90))
        with CLIENT_LOCK:
            first.delete()
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.02)
        out.send(note_on(0, 62, 90))  # no error: the destination is away
        second = synth()
        got = []
        # read as composer reads: a Python callback on JACK's thread can crash libjack
        reader = InputReader(second.get_message, lambda when, raw: got.append(raw))
        while len(events) < 2 and time.monotonic() < deadline + 5:
            time.sleep(0.02)
        assert [e.kind for e in events] == ["vanished", "returned"]
        time.sleep(0.1)
        offs = {raw[1] for raw in got if raw[0] & 0xF0 == 0x80}
        assert {60, 62} <= offs  # what it held when it went is turned off on return
        reader.stop()
        with CLIENT_LOCK:
            second.delete()


RESTART_SCRIPT = """
import json, time
from composer.live.jackd import JackServer
from composer.live.midi import note_on
from composer.live.ports import list_ports, open_output

server = JackServer(period=256).start()
events = []
out = open_output(virtual=True, backend="jack")
out.add_listener(events.append)
server.stop()
deadline = time.monotonic() + 10
while not events and time.monotonic() < deadline:
    time.sleep(0.05)
out.send(note_on(0, 60, 90))  # dropped, never fatal
server.start()
while len(events) < 2 and time.monotonic() < deadline + 10:
    time.sleep(0.05)
listed = out.name in list_ports("jack").inputs
out.close()
server.stop()
print(json.dumps({"events": [e.kind for e in events], "listed": listed}))
"""


def test_a_stopped_server_is_reported_and_ports_reopen_when_it_is_back(jack_server):
    # In a process of its own: its server comes and goes under the name it set.
    import json
    import os
    import subprocess
    import sys

    from composer.live.ports import release_idle_clients

    # libjack must not have seen another server's name in that process (it keeps it)
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    # Another server coming and going can crash libjack in a process that keeps
    # clients open (a JACK limit, not ours): this one keeps none meanwhile.
    release_idle_clients()
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", RESTART_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"events": ["server_lost", "server_back"], "listed": True}
