"""The composer editor app: ``make_app()`` builds it, ``run_editor()`` runs it.

The first frame comes before anything heavy is imported: the editor imports
only Textual, the song model and light services. Models (and with them torch)
load in a background thread once the editor is on screen, so the first
Continue is quick.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from composer.errors import ComposerError
from composer.services.project import Startup, record_crash, startup_session
from composer.tui.commands import (
    GENERATE,
    PALETTE_ONLY,
    available_commands,
    service_available,
)
from composer.tui.screens.editor import EditorScreen
from composer.tui.screens.help import HelpScreen

log = logging.getLogger(__name__)

PRELOAD_ENV = "COMPOSER_PRELOAD_MODELS"
"""Set to 0 to skip loading the default models in the background (tests do)."""


class ComposerApp(App[int]):
    """The editor. It holds one :class:`EditorScreen`; dialogs are pushed over it."""

    TITLE = "composer"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, id="app.quit"),
        Binding("f1", "help", "Help", show=False, id="app.help"),
    ]

    def __init__(
        self, startup: Startup, state_dir: Path | None = None, preload_models: bool | None = None
    ) -> None:
        super().__init__()
        self.startup = startup
        self.state_dir = state_dir
        if preload_models is None:
            preload_models = os.environ.get(PRELOAD_ENV, "1") != "0"
        self.preload_models = preload_models
        self.models_ready = False

    def on_mount(self) -> None:
        self.push_screen(EditorScreen(self.startup, self.state_dir))
        if self.preload_models:
            self.call_after_refresh(self._start_preload)

    @property
    def editor(self) -> EditorScreen:
        for screen in self.screen_stack:
            if isinstance(screen, EditorScreen):
                return screen
        raise LookupError("the editor screen is not open")

    # ------------------------------------------------------------ commands

    def action_quit(self) -> None:  # type: ignore[override]
        try:
            editor = self.editor
        except LookupError:
            self.exit()
            return
        if self.screen is not editor:
            # A dialog is open: quit from the editor's state, not from the middle of a form.
            self.pop_screen()
        editor.request_quit()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette: every editor command by name, with its key."""
        from composer.tui.screens.help import key_label

        try:
            editor = self.editor
        except LookupError:
            editor = None
        if editor is not None:
            for command in available_commands():
                yield SystemCommand(
                    f"{command.title}  ({key_label(command.keys)})",
                    command.help,
                    lambda action=command.action: self._run_editor_action(action),
                )
            for title, help_text, action in PALETTE_ONLY:
                yield SystemCommand(title, help_text, lambda a=action: self._run_editor_action(a))
        yield SystemCommand("Help  (F1)", "Every key of the editor", self.action_help)
        yield from super().get_system_commands(screen)

    async def _run_editor_action(self, action: str) -> None:
        editor = self.editor
        if self.screen is not editor:
            return
        await self.run_action(action, editor)

    # ------------------------------------------------------------ models

    def _start_preload(self) -> None:
        if not service_available(GENERATE):
            return
        self.run_worker(
            self._preload,
            thread=True,
            group="background",
            name="Loading models",
            exit_on_error=False,
        )

    def _preload(self) -> str:
        """Load the best installed melody model (and with it torch) while the user reads."""
        from composer.services.generate import MODELS
        from composer.services.models import melody_model, model_dir

        installed = [name for name in MODELS if model_dir("melody", name).exists()]
        if not installed:
            from composer.errors import ModelError

            raise ModelError("no melody model is installed", "train one with `composer train`")
        melody_model(installed[0])
        return installed[0]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "background" or event.worker.name != "Loading models":
            return
        editor = self.editor
        if event.state == WorkerState.SUCCESS:
            self.models_ready = True
            editor.say(f"Models ready ({event.worker.result}).")
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, ComposerError):
                editor.say(f"Models not loaded: {error.one_line()}", error=True)
            else:
                editor.say(f"Models not loaded: {type(error).__name__}: {error}", error=True)
        event.stop()

    # ------------------------------------------------------------ crashes

    def _fatal_error(self) -> None:
        """A bug reached the top: keep the work, log the traceback, leave one line."""
        import sys

        error = sys.exc_info()[1] or self._exception
        try:
            editor = self.editor
            editor.session.autosave(force=True)
        except Exception:  # the recovery file is a best effort at this point
            log.exception("could not keep the work after an internal error")
        where = record_crash(error or RuntimeError("unknown"), self.state_dir)
        self.bell()
        self._exit_renderables.append(
            f"composer: internal error: {type(error).__name__}: {error} "
            f"(your work is kept and offered at the next start; details in {where})"
        )
        self._close_messages_no_wait()


def make_app(
    path: str | Path | None = None,
    state_dir: Path | None = None,
    preload_models: bool | None = None,
) -> ComposerApp:
    """Build the editor on ``path``, else the last project, else the demo tune.

    Raises InputFileError when ``path`` is given and cannot be opened.
    """
    startup = startup_session(path, state_dir)
    return ComposerApp(startup, state_dir=state_dir, preload_models=preload_models)


def run_editor(path: str | Path | None = None) -> int:
    """Run the editor in this terminal; returns the exit status."""
    app = make_app(path)
    app.run()
    return app.return_code or 0
