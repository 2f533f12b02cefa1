"""The editor's sound and live input over real JACK ports: playback with a playhead,
a port that vanishes mid-song, recording a take, and jamming with the harmoniser."""

from __future__ import annotations

import time

from textual.widgets import Checkbox, Input, Select

from composer.core.song import Note, Song, Track
from composer.live.probe import note_ons
from composer.tui.app import make_app
from composer.tui.screens.dialogs import FormDialog
from tests.tui.conftest import two_track_song
from tests.tui.test_editor import SIZE, wait_for


def slow_song() -> Song:
    """Sixteen staccato quarters at 120 BPM: eight seconds to stop in the middle of.

    Staccato keeps every MIDI message in a JACK cycle of its own: the probe's
    input can merge messages that share a cycle while the UI thread holds the GIL.
    """
    notes = tuple(Note(pitch=60 + i % 8, start_tick=i * 480, duration_ticks=240) for i in range(16))
    return Song(tracks=(Track(name="Line", notes=notes),))


async def test_play_to_a_port_moves_the_playhead_and_stop_silences(probe, project_file,
                                                                    isolated_state):
    app = make_app(project_file(slow_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        editor.output_spec = probe.synth_name
        await pilot.press("home", "space")
        await wait_for(pilot, lambda: len(note_ons(list(probe.arrivals))) >= 2, timeout=10)
        await wait_for(pilot, lambda: (editor.roll.playhead_tick or 0) > 0)
        assert editor.query_one("#transport").state.playing
        await pilot.press("space")
        assert editor.roll.playhead_tick is None and not editor.playing
        assert probe.wait_for(lambda: probe.sounding_keys() == [], 3)
        heard = [pitch for _, _, pitch in note_ons(probe.take_arrivals())]
        assert len(heard) >= 2 and set(heard) <= set(range(60, 68))
        assert len(heard) < 16  # it stopped in the middle
        await pilot.press("ctrl+q")


async def test_a_port_that_vanishes_during_playback_is_reported_and_work_kept(
        jack_server, project_file, isolated_state):
    import rtmidi

    from composer.live.backends import CLIENT_LOCK

    with CLIENT_LOCK:
        synth = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="tui-gone-synth")
        synth.open_virtual_port("in")
    app = make_app(project_file(slow_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        editor.roll.move_cursor(0, 60)
        await pilot.press("plus")  # some unsaved work
        edited = editor.session.song
        assert editor.session.dirty
        editor.output_spec = "tui-gone-synth:in"
        await pilot.press("home", "space")
        await wait_for(pilot, lambda: editor.playing and editor.roll.playhead_tick)
        with CLIENT_LOCK:
            synth.delete()  # the synth quits mid-song
        await wait_for(pilot, lambda: any("disappeared" in m for m in editor.messages), timeout=10)
        assert editor.status.has_class("error")
        assert app.is_running and editor.session.song == edited and editor.session.dirty
        await pilot.press("space")
        assert not editor.playing


async def _fill_live_form(pilot, dialog: FormDialog, probe, output: str) -> None:
    dialog.query_one("#field-input", Select).value = probe.keys_name
    dialog.query_one("#field-output", Select).value = output
    await pilot.pause()


async def test_record_a_take_from_a_controller(probe, project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        await pilot.press("home", "ctrl+right")  # the take goes at bar 2
        await pilot.press("r")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        await _fill_live_form(pilot, dialog, probe, "virtual")
        dialog.query_one("#field-count_in", Input).value = "0"
        dialog.query_one("#field-metronome", Checkbox).value = False
        dialog.query_one("#field-quantise", Select).value = "1/8"
        dialog.query_one("#field-tempo", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("recording from" in m for m in editor.messages), 15)
        time.sleep(0.2)
        for pitch in (64, 67, 72):
            probe.send([0x90, pitch, 100])
            time.sleep(0.25)
            probe.send([0x80, pitch, 0])
            time.sleep(0.05)
        await pilot.pause(0.3)
        await pilot.press("escape")
        await wait_for(pilot, lambda: editor.job is None, timeout=15)
        song = editor.session.song
        take = song.tracks[-1]
        assert take.name == "Take 1" and [n.pitch for n in take.notes] == [64, 67, 72]
        assert all(n.start_tick >= 1920 and n.start_tick % 240 == 0 for n in take.notes)
        assert editor.messages[-1] == "Record take 1: 3 notes"
        assert editor.roll.track_index == len(song.tracks) - 1
        await pilot.press("ctrl+z")
        assert len(editor.session.song.tracks) == 2


async def test_jam_with_the_live_harmoniser(probe, project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        before = editor.session.song
        await pilot.press("j")
        dialog = app.screen
        await _fill_live_form(pilot, dialog, probe, probe.synth_name)
        dialog.query_one("#field-thru", Checkbox).value = False
        dialog.query_one("#field-tempo", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("listening on" in m for m in editor.messages), 60)
        time.sleep(0.2)
        probe.take_arrivals()
        probe.send([0x90, 67, 100])
        assert probe.wait_for(lambda: len(note_ons(list(probe.arrivals))) >= 2, 5)
        probe.send([0x80, 67, 0])
        chord = sorted(pitch for _, _, pitch in note_ons(probe.take_arrivals()))
        assert len(chord) >= 2 and 67 not in chord[:-1] or chord[-1] == 67
        await pilot.press("escape")
        await wait_for(pilot, lambda: editor.job is None, timeout=15)
        assert editor.messages[-1].startswith("Jam (harmonize) ended")
        assert editor.session.song == before
        assert probe.wait_for(lambda: probe.sounding_keys() == [], 3)
