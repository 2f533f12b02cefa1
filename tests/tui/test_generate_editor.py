"""Continue and infill from the editor: dialog, worker, candidate lanes, accept, undo."""

from __future__ import annotations

from textual.widgets import Input, Select

from composer.tui.app import make_app
from composer.tui.screens.dialogs import FormDialog
from composer.tui.widgets.candidates import CandidateLane
from tests.tui.conftest import two_track_song
from tests.tui.test_editor import SIZE, wait_for


async def _generate(pilot, app, key: str, model: str, **fields: str) -> None:
    await pilot.press(key)
    dialog = app.screen
    assert isinstance(dialog, FormDialog)
    dialog.query_one("#field-model", Select).value = model
    for name, value in fields.items():
        dialog.query_one(f"#field-{name}", Input).value = value
    dialog.query_one("#field-seed", Input).focus()
    await pilot.press("enter")


async def test_continue_with_the_markov_model(project_file, isolated_state):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        before = editor.session.song
        assert editor.roll.cursor_tick == 3840  # after the melody: where Continue picks up
        await _generate(pilot, app, "c", "markov", bars="2", variations="3", seed="11")
        await wait_for(pilot, lambda: editor.candidates.count == 3, timeout=120)
        assert editor.candidates.candidates.start_tick == 3840
        ghost = editor.roll.ghost
        assert ghost is not None and all(n.start_tick >= 3840 for _, ns in ghost.parts for n in ns)
        lanes = list(editor.candidates.query(CandidateLane))
        await pilot.click(lanes[1])  # the mouse chooses a lane too
        assert editor.candidates.highlighted == 1
        await pilot.press("3")
        chosen = editor.candidates.candidates.candidates[2].tracks[0].notes
        await pilot.press("enter")
        melody = editor.session.song.tracks[0].notes
        assert melody[:8] == before.tracks[0].notes  # the prompt is kept
        assert tuple(melody[8:]) == chosen and all(n.start_tick < 3840 + 3840 for n in chosen)
        assert editor.messages[-1] == "Accept continuation 3/3 (markov)"
        await pilot.press("ctrl+z")
        assert editor.session.song == before
        # The same seed gives the same notes.
        await _generate(pilot, app, "c", "markov", bars="2", variations="3", seed="11")
        await wait_for(pilot, lambda: editor.candidates.count == 3, timeout=120)
        assert editor.candidates.candidates.candidates[2].tracks[0].notes == chosen
        await pilot.double_click(list(editor.candidates.query(CandidateLane))[2])
        assert editor.session.song.tracks[0].notes[8:] == chosen  # a double click accepts
        await pilot.press("ctrl+z")
        await _generate(pilot, app, "c", "markov", bars="2", variations="3", seed="11")
        await wait_for(pilot, lambda: editor.candidates.count == 3, timeout=120)
        await pilot.press("escape")
        assert editor.session.song == before and editor.roll.ghost is None


async def test_infill_selected_bars_with_a_neural_model(
    tiny_lstm_models, project_file, isolated_state
):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        before = editor.session.song
        await pilot.press("home", "b")  # bar 1 of 2
        await pilot.press("f")
        dialog = app.screen
        options = [value for _, value in dialog.query_one("#field-model", Select)._options]
        assert "markov" not in options  # the Markov baseline cannot infill
        dialog.query_one("#field-model", Select).value = "lstm"
        dialog.query_one("#field-variations", Input).value = "2"
        dialog.query_one("#field-seed", Input).value = "3"
        dialog.query_one("#field-seed", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.candidates.count == 2, timeout=120)
        candidates = editor.candidates.candidates
        assert (candidates.start_tick, candidates.end_tick) == (0, 1920)
        await pilot.press("enter")
        melody = editor.session.song.tracks[0].notes
        assert [n for n in melody if n.start_tick >= 1920] == list(before.tracks[0].notes[4:])
        assert editor.messages[-1] == "Accept infill 1/2 (lstm)"
        await pilot.press("ctrl+z")
        assert editor.session.song == before
