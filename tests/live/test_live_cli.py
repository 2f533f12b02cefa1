"""The live commands: ports, play, record, jam, over the test's JACK server."""

from __future__ import annotations

import json
import threading
import time

from live_helpers import in_real_time, real_time, song_of

from composer.cli import main
from composer.io.midi_file import write_midi
from composer.io.song_files import load_song
from composer.live.probe import note_ons


def test_ports_lists_inputs_and_outputs(probe, capsys):
    assert main(["ports", "--backend", "jack", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["backend"] == "jack"
    assert probe.keys_name in listing["inputs"] and probe.synth_name in listing["outputs"]
    assert main(["ports", "--backend", "jack"]) == 0
    assert probe.synth_name in capsys.readouterr().out


def test_play_sends_the_file_to_the_port(probe, tmp_path, capsys):
    path = tmp_path / "tune.mid"
    write_midi(song_of((60, 0, 240), (64, 240, 240), (67, 480, 480), tempo_bpm=180), path)

    def play() -> None:
        probe.take_arrivals()
        assert main(["play", str(path), "--out", probe.name + "-synth", "--backend", "jack"]) == 0
        assert "played" in capsys.readouterr().out
        assert probe.wait_for(lambda: {p for _, _, p in note_ons(probe.arrivals)} == {60, 64, 67})
        assert probe.wait_for(lambda: probe.sounding_keys() == [])

    in_real_time(play)


def test_unknown_port_is_one_line_listing_the_ports(probe, tmp_path, capsys):
    path = tmp_path / "tune.mid"
    write_midi(song_of((60, 0, 240)), path)
    assert main(["play", str(path), "--out", "no-such-synth", "--backend", "jack"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no-such-synth" in err and probe.synth_name in err


@real_time
def test_record_adds_a_quantised_take_to_a_file(probe, tmp_path, capsys):
    path = tmp_path / "take.mid"

    def play() -> None:
        time.sleep(1.0)
        for pitch in (60, 62, 64):
            probe.send([0x90, pitch, 90])
            time.sleep(0.2)
            probe.send([0x80, pitch, 0])
            time.sleep(0.05)

    player = threading.Thread(target=play)
    player.start()
    code = main(
        [
            "record",
            "--in",
            probe.keys_name,
            "--out",
            probe.synth_name,
            "-o",
            str(path),
            "--backend",
            "jack",
            "--count-in",
            "0",
            "--seconds",
            "3",
            "--quantise",
            "1/16",
        ]
    )
    player.join()
    assert code == 0
    assert "added 3 notes" in capsys.readouterr().out
    notes = load_song(path).tracks[-1].notes
    assert [n.pitch for n in notes] == [60, 62, 64]
    assert all(n.start_tick % 120 == 0 for n in notes)


@real_time
def test_jam_harmonize_runs_for_the_time_given(probe, capsys):
    def play() -> None:
        time.sleep(3.0)
        for pitch in (69, 72, 67, 64):
            probe.send([0x90, pitch, 90])
            time.sleep(0.3)
            probe.send([0x80, pitch, 0])

    player = threading.Thread(target=play)
    player.start()
    code = main(
        [
            "jam",
            "--mode",
            "harmonize",
            "--harmony-model",
            "hmm",
            "--in",
            probe.keys_name,
            "--out",
            probe.synth_name,
            "--backend",
            "jack",
            "--seconds",
            "5",
        ]
    )
    player.join()
    assert code == 0
    assert "listening" in capsys.readouterr().out
    assert len({p for _, _, p in note_ons(probe.arrivals)} - {69, 72, 67, 64}) >= 2  # harmony
    assert probe.wait_for(lambda: probe.sounding_keys() == [])
