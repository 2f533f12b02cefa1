"""The status line: the latest message, and while a job runs, its progress and how to cancel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label, ProgressBar


class StatusLine(Horizontal):
    """Messages for the user and the progress of the running job.

    The ``busy`` CSS class is set while a job runs; it shows the progress bar.
    Progress reports may arrive in bursts from a worker thread; the editor
    collapses them to the latest before calling :meth:`show_progress`.
    """

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
        padding: 0 1;
        #status-message { width: 1fr; height: 1; }
        #status-progress { display: none; width: 32; height: 1; }
        #status-hint {
            display: none; width: auto; height: 1; color: $text-muted; padding: 0 0 0 1;
        }
        &.busy #status-progress { display: block; }
        &.busy #status-hint { display: block; }
        &.error #status-message { color: $error; }
    }
    """

    message: reactive[str] = reactive("")
    """The text at the left."""

    def compose(self) -> ComposeResult:
        yield Label("", id="status-message", markup=False)
        yield ProgressBar(total=1.0, show_eta=False, id="status-progress")
        yield Label("Esc cancels", id="status-hint")

    def watch_message(self, message: str) -> None:
        self.query_one("#status-message", Label).update(message)

    def say(self, message: str, error: bool = False) -> None:
        """Show ``message`` (in the error colour when ``error``)."""
        self.set_class(error, "error")
        self.message = message

    def start_job(self, title: str, hint: str = "Esc cancels") -> None:
        self.query_one("#status-hint", Label).update(hint)
        self.add_class("busy")
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        self.say(f"{title}…")

    def show_progress(self, fraction: float, message: str) -> None:
        bar = self.query_one(ProgressBar)
        if fraction < 0:
            bar.update(total=None)
        else:
            bar.update(total=1.0, progress=min(1.0, fraction))
        if message:
            self.say(message)

    def end_job(self) -> None:
        self.remove_class("busy")
