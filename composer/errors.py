"""The one family of errors a user can meet.

Every third-party failure (a bad MIDI file, a missing port, a broken
checkpoint) is turned into one of these at the boundary that met it, with a
message a musician understands and, where it helps, a hint on what to do.
The CLI prints ``message`` (and ``hint``) on one line and exits with code 2;
the TUI shows them in a dialog.
"""

from __future__ import annotations


class ComposerError(Exception):
    """Base class of every error composer reports to a user."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as a single line, for the CLI and logs."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text


class InputFileError(ComposerError):
    """A file the user gave cannot be read: missing, empty, corrupt, wrong type."""


class OutputFileError(ComposerError):
    """A file cannot be written: no permission, full disk, bad directory."""


class InvalidArgumentError(ComposerError):
    """A value the user chose is out of range or contradicts another."""


class ModelError(ComposerError):
    """A model or checkpoint is missing, corrupt, or from another version."""


class PortError(ComposerError):
    """A MIDI port is missing, vanished, or the MIDI backend is unavailable."""


class AudioError(ComposerError):
    """An audio file cannot be decoded or the synthesiser cannot run."""


class Cancelled(ComposerError):
    """A long job was cancelled by the user; not a failure."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
