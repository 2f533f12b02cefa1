"""Modal dialogs: messages, questions, recovery, file choice, and settings forms.

Every dialog returns its answer through ``dismiss`` (None when cancelled), so
callers use ``push_screen(dialog, callback)`` and never block the UI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DirectoryTree, Input, Label, Select, Static

from composer.errors import ComposerError

DialogResult = TypeVar("DialogResult")

DIALOG_CSS = """
Dialog {
    align: center middle;
    background: $background 60%;
}
.dialog {
    width: 72;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}
.dialog.error { border: thick $error; }
.dialog-title { text-style: bold; width: 1fr; margin: 0 0 1 0; }
.dialog-text { width: 1fr; margin: 0 0 1 0; }
.dialog-hint { width: 1fr; color: $text-muted; margin: 0 0 1 0; }
.dialog-buttons { height: auto; width: 1fr; align: right middle; margin: 1 0 0 0; }
.dialog-buttons Button { margin: 0 0 0 1; min-width: 10; }
.form-row { height: auto; width: 1fr; }
.form-row Label { width: 16; padding: 1 1 0 0; }
.form-row Input, .form-row Select { width: 1fr; }
.form-row Checkbox { width: 1fr; }
.form-error { color: $error; width: 1fr; height: auto; }
.form-fields { height: auto; max-height: 24; }
Dialog.-small {
    .dialog { width: 100%; border: none; padding: 0 1; }
    .dialog.error { border: none; }
    .dialog-title { margin: 0; }
    .dialog-text, .dialog-hint { margin: 0; }
    .dialog-buttons { margin: 0; }
    .form-row Label { width: 14; padding: 0 1 0 0; }
    .form-fields { max-height: 50vh; }
}
"""

SMALL_WIDTH, SMALL_HEIGHT = 76, 26
"""Below either, dialogs drop their frame and use one-line fields (a 40x12 terminal)."""


class Dialog(ModalScreen[DialogResult]):
    """A dialog box in the middle of the screen, the editor dimmed behind it.

    The styles live here once (scoped to ``Dialog``, so every subclass has them).
    In a small terminal (the ``-small`` class) the frame goes and every field,
    button and checkbox takes one line, so a form still fits in 40x12.
    """

    DEFAULT_CSS = DIALOG_CSS

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        width, height = self.app.size
        small = width < SMALL_WIDTH or height < SMALL_HEIGHT
        self.set_class(small, "-small")
        for widget in self.query("Input, Select, Button, Checkbox"):
            widget.compact = small  # type: ignore[attr-defined]


class MessageDialog(Dialog[None]):
    """A message with an OK button: errors and other things that need reading."""

    BINDINGS = [Binding("escape,enter", "close", "Close", show=False)]

    def __init__(
        self, title: str, message: str, hint: str | None = None, error: bool = True
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.hint = hint
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error" if self.error else "dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.message, classes="dialog-text", markup=False)
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")

    def on_mount(self) -> None:
        # query, not query_one: a key pressed at once may have closed the dialog already.
        for button in self.query("#ok"):
            button.focus()

    @on(Button.Pressed, "#ok")
    def action_close(self) -> None:
        self.dismiss(None)

    @staticmethod
    def for_error(error: ComposerError, title: str = "Something went wrong") -> MessageDialog:
        return MessageDialog(title, error.message, error.hint)


class ChoiceDialog(Dialog[str | None]):
    """A question with a few answers, e.g. Save / Don't save / Cancel. Escape is cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, title: str, message: str, choices: Sequence[tuple[str, str, str]]) -> None:
        """``choices`` are (label, value, variant) with variant "primary", "error" or "default"."""
        super().__init__()
        self.title_text = title
        self.message = message
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.message, classes="dialog-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                for label, value, variant in self.choices:
                    yield Button(label, variant=variant, id=f"choice-{value}")  # type: ignore[arg-type]

    def on_mount(self) -> None:
        for button in self.query(Button)[:1]:
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class _SongFileTree(DirectoryTree):
    """A directory tree that lists folders and the files a dialog can use."""

    def __init__(self, path: Path, suffixes: tuple[str, ...], **kwargs: Any) -> None:
        self.suffixes = suffixes
        super().__init__(path, **kwargs)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".")
            and (p.is_dir() or not self.suffixes or p.suffix.lower() in self.suffixes)
        ]


class FileDialog(Dialog[Path | None]):
    """Pick a file to open, or type a path to save to.

    The tree shows only the file types that fit; the path box takes any path,
    so a file the tree hides can still be typed. Whether the file is usable is
    checked by whoever opens it, and a bad one gets a clear message there.
    """

    DEFAULT_CSS = """
    FileDialog .dialog { width: 90; }
    FileDialog DirectoryTree { height: 16; margin: 0 0 1 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(
        self,
        title: str,
        start: Path,
        suffixes: tuple[str, ...] = (),
        default_name: str = "",
        save: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.start = start if start.is_dir() else Path.cwd()
        self.suffixes = suffixes
        self.default_name = default_name
        self.save = save

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield _SongFileTree(self.start, self.suffixes, id="file-tree")
            path = str(self.start / self.default_name) if self.default_name else ""
            yield Input(path, placeholder="path to the file", id="file-path")
            yield Label("", classes="form-error", id="file-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save" if self.save else "Open", variant="primary", id="ok")

    def on_mount(self) -> None:
        for widget in self.query("#file-path" if self.save else "#file-tree"):
            widget.focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#file-path", Input).value = str(event.path)
        if not self.save:
            self._finish()

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        path_input = self.query_one("#file-path", Input)
        name = Path(path_input.value).name if self.save and path_input.value else ""
        path_input.value = str(event.path / name) if name else str(event.path) + "/"

    @on(Input.Submitted, "#file-path")
    @on(Button.Pressed, "#ok")
    def _finish(self) -> None:
        text = self.query_one("#file-path", Input).value.strip()
        error = self.query_one("#file-error", Label)
        if not text:
            error.update("Type a path or pick a file.")
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.start / path
        if path.is_dir():
            error.update(f"{path} is a folder; pick a file in it.")
            return
        if not self.save and not path.exists():
            error.update(f"{path} does not exist.")
            return
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Field:
    """One row of a :class:`FormDialog`."""

    name: str
    label: str
    kind: str = "text"  # "text", "select" or "check"
    value: Any = ""
    options: tuple[tuple[str, Any], ...] = ()
    placeholder: str = ""


class FormDialog(Dialog[Any]):
    """A settings form. ``build`` turns the field values into the result, or raises
    ComposerError (or ValueError) whose message is shown in the form, which stays open.

    ``on_change(form, name, value)`` runs when a select or checkbox changes, so one
    field's choices can follow another's (a harmony model list follows the style).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        build: Callable[[dict[str, Any]], Any],
        submit_label: str = "OK",
        intro: str = "",
        browse: dict[str, tuple[str, tuple[str, ...]]] | None = None,
        on_change: Callable[[FormDialog, str, Any], None] | None = None,
    ) -> None:
        """``browse`` maps a text field's name to (dialog title, suffixes) for a file picker."""
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.build = build
        self.submit_label = submit_label
        self.intro = intro
        self.browse = browse or {}
        self.on_change = on_change

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            # The intro scrolls with the fields: in a small terminal a long one (no MIDI
            # ports, say) must not push the buttons off the screen.
            with VerticalScroll(classes="form-fields"):
                if self.intro:
                    yield Static(self.intro, classes="dialog-hint", markup=False)
                for field in self.fields:
                    with Horizontal(classes="form-row"):
                        if field.kind == "check":
                            yield Checkbox(field.label, bool(field.value), id=f"field-{field.name}")
                            continue
                        yield Label(field.label, markup=False)
                        if field.kind == "select":
                            yield Select(
                                field.options,
                                value=field.value,
                                allow_blank=False,
                                id=f"field-{field.name}",
                            )
                        else:
                            yield Input(
                                str(field.value),
                                placeholder=field.placeholder,
                                id=f"field-{field.name}",
                            )
                        if field.name in self.browse:
                            yield Button("Browse…", id=f"browse-{field.name}")
            yield Label("", classes="form-error", id="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.submit_label, variant="primary", id="ok")

    def on_mount(self) -> None:
        # The first text box, where Enter submits with the defaults; else the first field.
        fields = self.query(".form-row Input") or self.query(".form-row Select, .form-row Checkbox")
        for widget in fields[:1]:
            widget.focus()

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in self.fields:
            widget = self.query_one(f"#field-{field.name}")
            if isinstance(widget, Input):
                values[field.name] = widget.value.strip()
            elif isinstance(widget, Select | Checkbox):
                values[field.name] = widget.value
        return values

    def set_options(self, name: str, options: Sequence[tuple[str, Any]], value: Any = None) -> None:
        """Replace a select field's choices and select ``value``; without one, keep the
        current value when it is still a choice, else take the first."""
        select: Select[Any] = self.query_one(f"#field-{name}", Select)
        current = select.value
        select.set_options(options)
        values = [v for _, v in options]
        if values:
            select.value = next((v for v in (value, current) if v in values), values[0])

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Select.Changed | Checkbox.Changed) -> None:
        widget = event.control
        if self.on_change is not None and widget.id and widget.id.startswith("field-"):
            self.on_change(self, widget.id.removeprefix("field-"), event.value)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        try:
            result = self.build(self.values())
        except ComposerError as err:
            self.query_one("#form-error", Label).update(err.one_line())
            return
        except ValueError as err:
            self.query_one("#form-error", Label).update(str(err))
            return
        self.dismiss(result)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button.startswith("browse-"):
            name = button.removeprefix("browse-")
            title, suffixes = self.browse[name]
            current = self.query_one(f"#field-{name}", Input).value.strip()
            start = Path(current).expanduser().parent if current else Path.cwd()

            def chosen(path: Path | None) -> None:
                if path is not None:
                    self.query_one(f"#field-{name}", Input).value = str(path)

            self.app.push_screen(FileDialog(title, start, suffixes), chosen)
            event.stop()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_int(text: str, name: str, low: int, high: int, default: int | None = None) -> int | None:
    """An integer from a form field; blank gives ``default``. Raises ValueError naming the field."""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}..{high}")
    return value


def parse_float(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: {value:g} is outside {low:g}..{high:g}")
    return value
