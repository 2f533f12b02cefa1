"""The two long jobs that only the command palette runs: building the corpus and
training a model. Both go through the same worker as generation (progress on the
status line, Esc cancels) and end in a message or a dialog, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.tui.app import make_app
from composer.tui.screens.dialogs import FormDialog, MessageDialog
from tests.tui.conftest import two_track_song
from tests.tui.test_editor import SIZE, wait_for


async def _palette(pilot, title: str) -> None:
    """Find a command by typing its name in the palette (Ctrl+P), as a user does."""
    await pilot.press("ctrl+p")
    await pilot.pause(0.2)
    await pilot.press(*title)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.2)


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(cache))
    return cache


async def test_build_corpus_shows_progress_and_escape_cancels_it(
    empty_cache, project_file, isolated_state
):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        before = editor.session.song
        await _palette(pilot, "Build corpus")
        assert editor.job is not None and editor.job.title == "Build corpus"
        assert editor.status.has_class("busy")
        await wait_for(pilot, lambda: "pieces" in editor.status.message, timeout=120)
        await pilot.press("escape")
        await wait_for(pilot, lambda: editor.job is None, timeout=60)
        assert editor.messages[-1] == "Build corpus cancelled; nothing was changed."
        assert editor.session.song == before
    assert not list(empty_cache.rglob("folk_train.jsonl.gz"))  # no half-built corpus


async def test_training_without_a_corpus_says_what_to_run(
    empty_cache, project_file, isolated_state
):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        await _palette(pilot, "Train a model")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        minutes = dialog.query_one("#field-minutes")
        minutes.value = "0.1"
        minutes.focus()
        await pilot.press("enter")
        assert app.screen is dialog  # too short: the form says so and stays
        assert "outside" in str(dialog.query_one("#form-error").render())
        minutes.value = "1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDialog), timeout=60)
        text = str(app.screen.query_one(".dialog-text").render())
        hint = str(app.screen.query_one(".dialog-hint").render())
        assert "corpus has not been built" in text and "composer corpus build" in hint
        await pilot.press("enter")
        assert editor.job is None and not editor.status.has_class("busy")
