"""The help screen (F1): every key, grouped, from the same table as the bindings."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from composer.tui.commands import GROUPS, PALETTE_ONLY, available_commands
from composer.tui.widgets.candidates import CandidatePanel
from composer.tui.widgets.piano_roll import PianoRoll

_KEY_NAMES = {
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "greater_than_sign": ">",
    "less_than_sign": "<",
    "space": "Space",
    "enter": "Enter",
    "escape": "Esc",
    "delete": "Del",
    "backspace": "Backspace",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "left": "←",
    "right": "→",
    "up": "↑",
    "down": "↓",
}


def key_label(keys: str) -> str:
    """'ctrl+up,greater_than_sign' -> 'Ctrl+↑ / >'."""
    labels = []
    for key in keys.split(","):
        parts = key.split("+")
        named = [_KEY_NAMES.get(p, p.capitalize() if len(p) > 1 else p) for p in parts]
        labels.append("+".join(named))
    return " / ".join(labels)


def help_rows() -> list[tuple[str, str, str]]:
    """(group, keys, what it does) for every key in the editor."""
    rows: list[tuple[str, str, str]] = []
    commands = available_commands()
    for group in GROUPS:
        rows += [
            (group, key_label(c.keys), f"{c.title}: {c.help}") for c in commands if c.group == group
        ]
    for binding in PianoRoll.BINDINGS:
        assert isinstance(binding, Binding)
        rows.append(("Piano roll", key_label(binding.key), binding.description))
    for binding in CandidatePanel.BINDINGS:
        assert isinstance(binding, Binding)
        if binding.id:
            rows.append(("Candidate lanes", key_label(binding.key), binding.description))
    rows.append(("Candidate lanes", "1-9", "Choose that candidate"))
    rows += [("Palette only", "Ctrl+P", f"{title}: {text}") for title, text, _ in PALETTE_ONLY]
    rows += [
        ("App", "F1", "This help"),
        ("App", "Ctrl+P", "Command palette: every command by name"),
        ("App", "Ctrl+Q", "Quit (your work is kept; asks only if it cannot be)"),
        ("Mouse", "Click", "Put the cursor there (Shift+click selects up to there)"),
        ("Mouse", "Drag", "Select a range of time and pitch"),
        ("Mouse", "Wheel", "Scroll (Shift+wheel scrolls sideways)"),
        ("Mouse", "Track list", "Click a track to make it current; M and S mute and solo"),
        ("Mouse", "Candidate lane", "Click to choose it; double-click to accept it"),
    ]
    return rows


class HelpScreen(ModalScreen[None]):
    """Every key of the editor in one scrollable table."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; margin: 0 0 1 0; }
    """
    BINDINGS = [Binding("escape,f1,q", "close", "Close help", show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("composer — keys (Esc closes)", id="help-title")
            yield Static(self._table())

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_header=False, pad_edge=False)
        table.add_column("group", style="bold", width=16, no_wrap=True)
        table.add_column("keys", style="bold cyan", width=22, no_wrap=True)
        table.add_column("does", ratio=1)
        previous = ""
        for group, keys, text in help_rows():
            table.add_row(Text(group if group != previous else ""), keys, text)
            previous = group
        return table

    def action_close(self) -> None:
        self.dismiss(None)
