"""The editor's sound and live input over real JACK ports: playback with a playhead,
a port that vanishes mid-song, recording a take, and jamming with the harmoniser."""

from __future__ import annotations

import time

from textual.widgets import Checkbox, Input, Select

from composer.core.song import Note, Song, Track
from composer.tui.app import make_app
from composer.tui.screens.dialogs import FormDialog
from tests.tui.conftest import two_track_song
from tests.tui.test_editor import SIZE, wait_for


class PolledSynth:
    """A virtual synth port read by polling: rtmidi's own queue copies every message, so
    messages that share a JACK cycle stay apart even while the UI thread holds the GIL."""

    def __init__(self, name: str) -> None:
        import rtmidi

        from composer.live.backends import CLIENT_LOCK

        self._lock = CLIENT_LOCK
        with CLIENT_LOCK:
            self.port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=name)
            self.port.open_virtual_port("in")
        self.name = f"{name}:in"
        self.messages: list[list[int]] = []
        self.sounding: set[tuple[int, int]] = set()

    def drain(self) -> list[list[int]]:
        while (got := self.port.get_message()) is not None:
            raw = list(got[0])
            self.messages.append(raw)
            status = raw[0] & 0xF0
            key = (raw[0] & 0x0F, raw[1]) if len(raw) > 1 else None
            if status == 0x90 and raw[2] > 0:
                self.sounding.add(key)
            elif status in (0x80, 0x90):
                self.sounding.discard(key)
            elif status == 0xB0 and raw[1] in (120, 123):
                self.sounding = {k for k in self.sounding if k[0] != raw[0] & 0x0F}
        return self.messages

    def note_ons(self) -> list[int]:
        return [m[1] for m in self.drain() if m[0] & 0xF0 == 0x90 and m[2] > 0]

    def close(self) -> None:
        with self._lock:
            self.port.delete()


def slow_song() -> Song:
    """Sixteen staccato quarters at 120 BPM: eight seconds to stop in the middle of.

    Staccato keeps every MIDI message in a JACK cycle of its own: the probe's
    input can merge messages that share a cycle while the UI thread holds the GIL.
    """
    notes = tuple(Note(pitch=60 + i % 8, start_tick=i * 480, duration_ticks=240) for i in range(16))
    return Song(tracks=(Track(name="Line", notes=notes),))


async def test_play_to_a_port_moves_the_playhead_and_stop_silences(
    jack_server, project_file, isolated_state
):
    synth = PolledSynth("tui-play-synth")
    app = make_app(project_file(slow_song()), state_dir=isolated_state)
    try:
        async with app.run_test(size=SIZE) as pilot:
            editor = app.editor
            editor.output_spec = synth.name
            await pilot.press("home", "space")
            await wait_for(pilot, lambda: len(synth.note_ons()) >= 2, timeout=10)
            await wait_for(pilot, lambda: (editor.roll.playhead_tick or 0) > 0)
            assert editor.query_one("#transport").state.playing
            await pilot.press("space")
            assert editor.roll.playhead_tick is None and not editor.playing
            await pilot.pause(0.3)
            heard = synth.note_ons()
            assert heard[:2] == [60, 61] and len(heard) < 16  # from the start; stopped midway
            assert synth.sounding == set()
            await pilot.press("ctrl+q")
    finally:
        synth.close()


async def test_a_port_that_vanishes_during_playback_is_reported_and_work_kept(
    jack_server, project_file, isolated_state
):
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
        assert not editor.playing, (editor.messages[-4:], app.screen, app.focused)


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
        await wait_for(pilot, lambda: "recording from" in editor.status.message, 15)
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
    synth = PolledSynth("tui-jam-synth")
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    try:
        async with app.run_test(size=SIZE) as pilot:
            editor = app.editor
            before = editor.session.song
            await pilot.press("j")
            dialog = app.screen
            await _fill_live_form(pilot, dialog, probe, synth.name)
            dialog.query_one("#field-thru", Checkbox).value = False
            dialog.query_one("#field-tempo", Input).focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: "listening on" in editor.status.message, 60)
            time.sleep(0.2)
            synth.drain()
            probe.send([0x90, 67, 100])
            await wait_for(pilot, lambda: synth.drain() and len(synth.sounding) >= 3, timeout=5)
            chord = sorted(pitch for _, pitch in synth.sounding)
            assert len(chord) >= 3 and max(chord) <= 67  # voices at or below the melody note
            probe.send([0x80, 67, 0])
            await pilot.press("escape")
            await wait_for(pilot, lambda: editor.job is None, timeout=15)
            assert editor.messages[-1].startswith("Jam (harmonize) ended")
            assert editor.session.song == before
            synth.drain()
            assert synth.sounding == set()
    finally:
        synth.close()


async def test_audition_a_candidate_and_loop_a_selection(jack_server, project_file, isolated_state):
    synth = PolledSynth("tui-audition-synth")
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    try:
        async with app.run_test(size=SIZE) as pilot:
            editor = app.editor
            editor.output_spec = synth.name
            from composer.services.generate import GenerationSettings

            editor.run_continue(GenerationSettings(model="markov", bars=1, variations=2, seed=4))
            await wait_for(pilot, lambda: editor.candidates.count == 2, timeout=120)
            candidate = editor.candidates.candidates.candidates[1].tracks[0].notes
            await pilot.press("right", "p")  # audition the second: from a bar before it
            await wait_for(pilot, lambda: editor.playing and editor.roll.playhead_tick)
            await wait_for(pilot, lambda: editor.playing is False, timeout=20)
            heard = synth.note_ons()
            # From the bar before the candidate (bar 2: melody and bass), then the candidate.
            assert sorted(heard[:2]) == [43, 67] and heard[2:5] == [65, 64, 62]
            assert heard[5:] == [n.pitch for n in candidate]
            assert len(editor.session.song.tracks[0].notes) == 8  # nothing was accepted
            await pilot.press("escape")
            # Loop the first bar: the playhead comes back to its start.
            await pilot.press("home", "b", "l")
            assert editor.query_one("#transport").state.loop
            await pilot.press("space")
            seen: list[int] = []

            def wrapped() -> bool:
                tick = editor.roll.playhead_tick
                if tick is not None and (not seen or seen[-1] != tick):
                    seen.append(tick)
                return len(seen) > 2 and min(seen[1:]) < max(seen)

            await wait_for(pilot, wrapped, timeout=20)
            assert all(tick < 1920 for tick in seen)
            await pilot.press("space")
            await pilot.pause(0.3)
            synth.drain()
            assert synth.sounding == set() and not editor.playing
    finally:
        synth.close()
