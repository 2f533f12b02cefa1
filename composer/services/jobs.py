"""What every long-running service takes: a progress callback and a cancel event.

Services never print. They report ``progress(fraction, message)`` with
``fraction`` in 0..1 (or -1 when unknown) and stop with :class:`Cancelled` soon
after ``cancel`` is set. The CLI turns progress into a bar on stderr; the TUI
into a progress bar widget, collapsing bursts to the latest value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from composer.errors import Cancelled

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores what it is told."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise Cancelled if the user asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()
