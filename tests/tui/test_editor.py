"""Pilot scenarios of the editor: keys in, song and messages out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Input, Select

from composer.core.song import PPQ, Song
from composer.services.project import ProjectSession, find_recoveries
from composer.tui.app import ComposerApp, make_app
from composer.tui.commands import available_commands
from composer.tui.screens.dialogs import ChoiceDialog, FileDialog, FormDialog, MessageDialog
from composer.tui.screens.editor import EditorScreen
from composer.tui.screens.help import HelpScreen
from composer.tui.widgets.piano_roll import GUTTER, RULER
from tests.tui.conftest import two_track_song

SIZE = (120, 36)


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 20.0) -> None:
    """Let the app run until ``predicate()`` holds (jobs run in worker threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the editor")
        await pilot.pause(0.05)
    await pilot.pause()  # let a screen that just opened finish its layout


def notes_of(song: Song, track: int = 0) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start_tick, n.duration_ticks) for n in song.tracks[track].notes]


def editor_of(app: ComposerApp) -> EditorScreen:
    return app.editor


async def test_keyboard_editing_with_undo_and_redo(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        roll = editor.roll
        original = editor.session.song
        await pilot.press("home")
        assert (roll.cursor_tick, roll.cursor_pitch) == (0, 62)
        await pilot.press("down", "down")  # C4, on the first melody note
        await pilot.press("plus")
        assert notes_of(editor.session.song)[0] == (61, 0, 480)
        assert editor.messages[-1] == "Transpose 1 note a semitone up"
        assert roll.cursor_pitch == 61  # the cursor follows the note
        await pilot.press("greater_than_sign")
        assert notes_of(editor.session.song)[0] == (73, 0, 480)
        await pilot.press("right_square_bracket")  # lengthen by the 1/8 grid
        assert notes_of(editor.session.song)[0] == (73, 0, 720)
        await pilot.press("x")
        assert all(n[1] != 0 for n in notes_of(editor.session.song))
        await pilot.press("ctrl+z", "ctrl+z", "ctrl+z", "ctrl+z")
        assert editor.session.song == original
        assert editor.messages[-1] == "Undid: Transpose 1 note a semitone up"
        await pilot.press("ctrl+z")
        assert editor.messages[-1] == "Nothing to undo."
        await pilot.press("ctrl+y")
        assert notes_of(editor.session.song)[0] == (61, 0, 480)
        # Step entry: insert moves on by one grid step.
        await pilot.press("end", "up", "enter", "up", "enter")
        added = [n for n in notes_of(editor.session.song) if n[1] >= 3840]
        assert added == [(74, 3840, 240), (75, 4080, 240)]  # the cursor stayed on 73
        assert editor.session.dirty


async def test_selection_copy_paste_and_bars(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        roll = editor.roll
        await pilot.press("home", "b")
        assert (roll.selection.start_tick, roll.selection.end_tick) == (0, 4 * PPQ)
        assert "Selected bar 1: 4 notes" in editor.messages[-1]
        await pilot.press("b")  # again: the next bar joins
        assert roll.selection.end_tick == 8 * PPQ
        await pilot.press("escape", "home", "b", "ctrl+c")
        assert editor.messages[-1] == "Copied 4 notes"
        await pilot.press("escape", "ctrl+right", "ctrl+right", "ctrl+v")
        pasted = [n for n in notes_of(editor.session.song) if n[1] >= 8 * PPQ]
        assert pasted == [(60, 3840, 480), (62, 4320, 480), (64, 4800, 480), (65, 5280, 480)]
        assert roll.selection is not None and roll.selection.start_tick == 8 * PPQ
        await pilot.press("minus")  # the pasted notes are selected: they move together
        assert [n[0] for n in notes_of(editor.session.song) if n[1] >= 8 * PPQ] == [59, 61, 63, 64]
        await pilot.press("ctrl+x")
        assert not [n for n in notes_of(editor.session.song) if n[1] >= 8 * PPQ]
        # Shift+arrows select a rectangle: time and pitch.
        await pilot.press("escape", "home")
        roll.move_cursor(0, 60)
        await pilot.press("shift+right", "shift+right", "shift+right", "shift+up", "shift+up")
        assert (roll.selection.start_tick, roll.selection.end_tick) == (0, 960)
        assert (roll.selection.low_pitch, roll.selection.high_pitch) == (60, 62)
        await pilot.press("delete")
        assert notes_of(editor.session.song)[:1] == [(64, 960, 480)]


async def test_mouse_places_the_cursor_and_drags_a_selection(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        roll = editor.roll
        roll.scroll_to(x=0, y=roll.row_of_pitch(72), animate=False, force=True)
        await pilot.pause()
        row_of_64 = RULER + roll.row_of_pitch(64) - int(roll.scroll_y)
        await pilot.click(roll, offset=(GUTTER + 8, row_of_64))
        assert (roll.cursor_tick, roll.cursor_pitch) == (8 * roll.ticks_per_cell, 64)
        assert roll.selection is None
        await pilot.click(roll, offset=(GUTTER + 16, row_of_64 + 4), shift=True)
        selection = roll.selection
        assert selection is not None and (selection.low_pitch, selection.high_pitch) == (60, 64)
        assert selection.start_tick == 8 * roll.ticks_per_cell


async def test_view_keys_track_switching_mute_and_solo(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        roll = editor.roll
        await pilot.press("g")
        assert roll.grid_ticks == PPQ // 3  # 1/8 -> 1/8 triplets
        await pilot.press("G", "G")
        assert roll.grid_ticks == 2 * PPQ // 3  # quarter triplets
        await pilot.press("z")
        assert roll.ticks_per_cell == 60
        await pilot.press("Z", "Z")
        assert roll.ticks_per_cell == 240
        await pilot.press("v")
        assert roll.rows_per_pitch == 2
        await pilot.press("t")
        assert roll.track_index == 1
        assert editor.query_one("#transport").state.track == "Bass"
        await pilot.press("m")
        assert editor.muted == {1} and editor.audible == {0}
        assert editor.messages[-1] == "Bass muted"
        await pilot.press("T", "s")
        assert editor.audible == {0}
        assert editor.messages[-1] == "Melody soloed"
        await pilot.press("s", "t", "m")
        assert editor.audible == {0, 1}
        # The view is saved with the project.
        await pilot.press("ctrl+s")
        view = ProjectSession.open(editor.session.path).view
        assert view["rows_per_pitch"] == 2 and view["ticks_per_cell"] == 240


async def test_track_properties_song_settings_and_tracks(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        await pilot.press("i")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        dialog.query_one("#field-name", Input).value = "Flute"
        dialog.query_one("#field-program", Select).value = 73
        dialog.query_one("#field-channel", Input).value = "17"
        await pilot.press("enter")
        assert app.screen is dialog  # a bad channel keeps the form open with the reason
        assert "outside 1..16" in str(dialog.query_one("#form-error").render())
        dialog.query_one("#field-channel", Input).value = "4"
        dialog.query_one("#field-channel", Input).focus()
        await pilot.press("enter")
        track = editor.session.song.tracks[0]
        assert (track.name, track.program, track.channel) == ("Flute", 73, 3)
        await pilot.press("k")
        dialog = app.screen
        dialog.query_one("#field-tempo", Input).value = "96"
        dialog.query_one("#field-meter", Input).value = "3/4"
        dialog.query_one("#field-key", Input).value = "a minor"
        dialog.query_one("#field-key", Input).focus()
        await pilot.press("enter")
        song = editor.session.song
        assert round(song.tempos[0].tempo_bpm) == 96 and str(song.time_signatures[0]) == "3/4"
        assert song.keys[0].name == "A minor"
        assert editor.query_one("#transport").state.meter == "3/4"
        await pilot.press("N")
        assert len(editor.session.song.tracks) == 3 and editor.roll.track_index == 2
        await pilot.press("D")
        assert len(editor.session.song.tracks) == 2
        await pilot.press("ctrl+z")
        assert editor.session.song.tracks[2].name == "Track 3"


async def test_save_as_then_open_with_unsaved_changes(tmp_path: Path, isolated_state):
    app = make_app(state_dir=isolated_state)  # the demo
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        await pilot.press("enter")
        await pilot.press("ctrl+s")  # no file yet: Save as
        dialog = app.screen
        assert isinstance(dialog, FileDialog)
        dialog.query_one("#file-path", Input).value = str(tmp_path / "mine")
        await pilot.press("enter")
        saved = tmp_path / "mine.composer"
        assert saved.exists() and not editor.session.dirty
        assert editor.messages[-1] == f"Saved {saved}"
        edited = editor.session.song
        await pilot.press("left", "plus")  # back onto the inserted note, and change it
        assert editor.session.dirty
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ChoiceDialog)  # unsaved changes: asked first
        await pilot.click("#choice-discard")
        dialog = app.screen
        assert isinstance(dialog, FileDialog)
        dialog.query_one("#file-path", Input).value = str(saved)
        dialog.query_one("#file-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.job is None and editor.session.path == saved)
        assert editor.session.song == edited
        assert editor.messages[-1].startswith("Opened mine.composer")


async def test_a_corrupt_file_gets_a_dialog_and_the_work_stays(
    tmp_path: Path, project_file, isolated_state
):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff\xff\xff")
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        await pilot.press("home", "down", "down", "plus")
        edited = editor.session.song
        assert editor.session.dirty
        await pilot.press("ctrl+o")  # picked in the open dialog, as a user does
        await pilot.click("#choice-discard")  # "don't save": the open itself will fail
        dialog = app.screen
        assert isinstance(dialog, FileDialog)
        dialog.query_one("#file-path", Input).value = str(bad)
        dialog.query_one("#file-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDialog))
        dialog = app.screen
        assert "broken.mid" in str(dialog.query_one(".dialog-text").render())
        await pilot.press("enter")
        assert editor.session.song == edited and editor.session.dirty
        assert editor.session.path.name == "test.composer"


async def test_quit_keeps_unsaved_work_and_the_next_start_offers_it(project_file, isolated_state):
    path = project_file(two_track_song())
    app = make_app(path, state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("home", "down", "down", "plus")
        edited = editor_of(app).session.song
        assert editor_of(app).session.dirty
        await pilot.press("ctrl+q")  # no question: the work is kept for the next start
    assert app.return_code == 0
    [kept] = find_recoveries(isolated_state)
    assert kept.clean_exit and kept.song == edited

    again = make_app(state_dir=isolated_state)  # reopens the last project...
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(again.screen, ChoiceDialog))
        assert "quit with unsaved changes" in str(again.screen.query_one(".dialog-text").render())
        await pilot.click("#choice-recover")  # ...and offers the unsaved work on top
        editor = editor_of(again)
        assert editor.session.song == edited and editor.session.dirty
        assert editor.session.path == path.resolve()
        await pilot.press("ctrl+s")
        assert not editor.session.dirty
    assert find_recoveries(isolated_state) == []


async def test_recovery_after_a_crash_can_be_discarded(isolated_state):
    crashed = ProjectSession(two_track_song(), state_dir=isolated_state)
    crashed.apply(Song(), "Delete everything")
    crashed.autosave()
    crashed.release()  # the process died without closing
    app = make_app(state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        text = str(app.screen.query_one(".dialog-text").render())
        assert "did not close properly" in text and "Delete everything" in text
        await pilot.click("#choice-discard")
        assert editor_of(app).session.song.title.startswith("Ein feste Burg")
    assert find_recoveries(isolated_state) == []
    assert list((isolated_state / "recovery" / "discarded").glob("*.json"))


async def test_quit_asks_only_when_autosave_cannot_keep_the_work(tmp_path: Path, project_file):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("the state folder cannot be made here")
    app = make_app(project_file(two_track_song()), state_dir=blocked)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        await pilot.press("home", "down", "down", "plus")
        assert editor.session.dirty
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ChoiceDialog)
        assert "cannot be kept" in str(app.screen.query_one(".dialog-title").render())
        await pilot.click("#choice-cancel")
        assert app.is_running and editor.session.dirty
        await pilot.press("ctrl+q")
        await pilot.click("#choice-quit")
    assert app.return_code == 0


async def test_small_terminals_fold_the_layout_and_keep_working(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=(40, 12)) as pilot:
        editor = editor_of(app)
        assert editor.has_class("compact") and not editor.query_one("#tracks").display
        await pilot.press("home", "enter")
        assert editor.messages[-1].startswith("Insert")
        assert editor.roll.region.height >= 6
        # A dialog fits too: one-line fields, its buttons on the screen, Enter submits.
        await pilot.press("h")
        dialog = app.screen
        assert isinstance(dialog, FormDialog) and dialog.has_class("-small")
        ok = dialog.query_one("#ok")
        assert ok.region.bottom <= 12 and ok.region.height == 1
        dialog.query_one("#field-model", Select).value = "hmm"
        dialog.query_one("#field-seed", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.candidates.count == 3, timeout=60)
        await pilot.press("escape")
        await pilot.resize_terminal(20, 6)
        await pilot.pause(0.1)
        assert editor.has_class("tiny") and editor.query_one("#too-small").display
        await pilot.resize_terminal(120, 36)
        await pilot.pause(0.1)
        assert not editor.has_class("compact") and editor.query_one("#tracks").display


async def test_help_screen_and_command_palette_list_every_command(isolated_state):
    app = make_app(state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        from composer.tui.screens.help import help_rows

        described = " ".join(text for _, _, text in help_rows())
        for command in available_commands():
            assert command.title in described
        await pilot.press("escape")
        assert isinstance(app.screen, EditorScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for command in available_commands():
            assert any(t.startswith(command.title) for t in titles), command.title
        footer_keys = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"c", "space", "ctrl+s", "ctrl+q", "f1"} <= footer_keys


async def test_export_midi_and_musicxml(tmp_path: Path, project_file, isolated_state):
    from composer.io.song_files import load_song

    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        for name in ("out.mid", "out.musicxml"):
            await pilot.press("ctrl+e")
            dialog = app.screen
            assert isinstance(dialog, FileDialog)
            dialog.query_one("#file-path", Input).value = str(tmp_path / name)
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda n=name: editor.job is None and editor.messages[-1].startswith("Exported"),
                timeout=60,
            )
            back = load_song(tmp_path / name)
            assert [n.pitch for n in back.tracks[0].notes] == [60, 62, 64, 65, 67, 65, 64, 62]


async def test_harmonize_shows_lanes_and_accepting_one_is_undoable(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        before = editor.session.song
        await pilot.press("h")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        dialog.query_one("#field-model", Select).value = "hmm"
        dialog.query_one("#field-seed", Input).value = "7"
        dialog.query_one("#field-seed", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.candidates.count == 3, timeout=60)
        assert editor.roll.ghost is not None
        await pilot.press("right", "right", "left")
        assert editor.candidates.highlighted == 1
        await pilot.press("enter")
        song = editor.session.song
        assert [t.name for t in song.tracks[2:]] == ["Alto", "Tenor", "Bass 2"]
        assert editor.messages[-1] == "Harmonize Melody (chorale, hmm) 2/3"
        assert editor.roll.ghost is None and not editor.candidates.has_class("-shown")
        await pilot.press("ctrl+z")
        assert editor.session.song == before


async def test_a_failing_job_ends_in_one_dialog_and_changes_nothing(
    clone_models, project_file, isolated_state
):
    # clone_models has no neural harmoniser, whatever this machine has trained since.
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        before = editor.session.song
        editor.run_harmonize("chords", "transformer")  # a model that is not installed
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDialog))
        assert "transformer" in str(app.screen.query_one(".dialog-text").render())
        assert editor.job is None and editor.session.song == before
        await pilot.press("enter")
        assert isinstance(app.screen, EditorScreen)


async def test_a_long_job_shows_progress_and_escape_cancels_it(project_file, isolated_state):
    # A job that runs until it is cancelled stands in for a long generation: the
    # property under test is the routing (progress collapsed to the latest report,
    # Esc -> the cancel event the service receives -> Cancelled -> a message, no change).
    from composer.services.jobs import check_cancel

    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        before = editor.session.song
        started = threading.Event()

        def run(progress, cancel: threading.Event) -> None:
            for step in range(1000):
                progress(step / 1000, f"step {step}")
            started.set()
            while True:
                check_cancel(cancel)
                cancel.wait(0.01)

        editor.start_job("Slow job", run, lambda result: editor.say("finished"))
        assert editor.status.has_class("busy")
        await wait_for(pilot, started.is_set)
        await wait_for(pilot, lambda: editor.status.message == "step 999")
        await pilot.press("escape")
        await wait_for(pilot, lambda: editor.job is None)
        assert editor.messages[-1] == "Slow job cancelled; nothing was changed."
        assert not editor.status.has_class("busy") and "finished" not in editor.messages
        assert editor.session.song == before
        assert editor.roll.selection is None  # Esc went to the job, not to the roll


async def test_transcribing_a_file_that_is_not_audio_gets_a_dialog(
    tmp_path: Path, project_file, isolated_state
):
    # The file is checked before the model is loaded, so this holds with or without
    # the transcription model installed (the key itself needs the model: see below).
    fake = tmp_path / "hum.wav"
    fake.write_text("these are words, not sound\n" * 20)
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        before = editor.session.song
        editor.run_transcribe(fake)
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDialog), timeout=60)
        text = str(app.screen.query_one(".dialog-text").render())
        assert "hum.wav" in text
        await pilot.press("enter")
        assert editor.session.song == before and editor.job is None


def _footer_keys(screen) -> set[str]:
    return {
        b.binding.key
        for b in screen.active_bindings.values()
        if b.binding.show and screen.check_action(b.binding.action.split("(")[0], ()) is not False
    }


async def test_commands_follow_the_installed_models(
    tmp_path: Path, project_file, isolated_state, monkeypatch
):
    """A command whose model is missing appears nowhere and its key does nothing; a model
    installed while the editor runs brings its command back."""
    import shutil

    from composer.services.harmony_models import available_models, clear_cache
    from composer.services.models import forget_models
    from composer.tui.screens.help import help_rows

    shipped = Path(__file__).resolve().parents[2] / "models"
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(shipped / "melody-markov", models / "melody-markov")
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(models))
    forget_models()
    clear_cache()
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        keys = _footer_keys(editor)
        assert "c" in keys  # Markov continues...
        assert not {"f", "h", "a"} & keys  # ...but cannot infill; no harmony, no transcription
        described = " ".join(text for _, _, text in help_rows())
        palette = " ".join(c.title for c in app.get_system_commands(editor))
        for title in ("Infill", "Harmonize", "Transcribe"):
            assert f"{title}:" not in described and title not in palette
        for key in ("f", "h", "a"):
            await pilot.press(key)
            assert app.screen is editor  # no dialog, no error: as if the key were free
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        options = [value for _, value in dialog.query_one("#field-model", Select)._options]
        assert options == ["markov"]  # only what is installed is offered
        await pilot.press("escape")

        shutil.copytree(shipped / "harmony-hmm-chorale", models / "harmony-hmm-chorale")
        editor.refresh_capabilities()  # what the editor does every few seconds
        await pilot.pause()
        assert "h" in _footer_keys(editor) and "a" not in _footer_keys(editor)
        assert "Harmonize:" in " ".join(text for _, _, text in help_rows())
        await pilot.press("h")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        styles = [value for _, value in dialog.query_one("#field-style", Select)._options]
        models_offered = [value for _, value in dialog.query_one("#field-model", Select)._options]
        assert styles == ["chorale"] and models_offered == available_models("chorale") == ["hmm"]
        await pilot.press("escape")
    forget_models()
    clear_cache()


async def test_harmony_models_offered_follow_the_style(project_file, isolated_state):
    from composer.services.capabilities import harmony_models
    from composer.services.harmony_models import best_model

    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        model = dialog.query_one("#field-model", Select)
        assert [v for _, v in model._options] == harmony_models("chorale")
        assert model.value == best_model("chorale")  # the best installed
        dialog.query_one("#field-style", Select).value = "chords"
        await pilot.pause()
        assert [v for _, v in model._options] == harmony_models("chords")
        assert model.value == best_model("chords")  # its best, not the old choice
        assert "hmm" in [v for _, v in model._options]  # the baseline is always there


async def test_status_messages_kept_in_memory_are_bounded(project_file, isolated_state):
    from composer.tui.screens.editor import MESSAGES_KEPT

    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE):
        editor = editor_of(app)
        for i in range(5 * MESSAGES_KEPT):
            editor.say(f"message {i}")
        assert MESSAGES_KEPT <= len(editor.messages) <= 2 * MESSAGES_KEPT
        assert editor.messages[-1] == f"message {5 * MESSAGES_KEPT - 1}"
        assert editor.status.message == editor.messages[-1]
