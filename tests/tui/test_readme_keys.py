"""The README's table of what to press says what the editor really binds."""

from __future__ import annotations

import re
from pathlib import Path

from composer.tui.commands import COMMANDS
from composer.tui.screens.help import key_label
from composer.tui.widgets.piano_roll import PianoRoll

README = Path(__file__).resolve().parents[2] / "README.md"

ROWS = {
    "continue a melody": ["editor.continue"],
    "regenerate bars": ["roll.select_bar", "editor.infill"],
    "add alto/tenor/bass": ["editor.harmonize"],
    "turn a recording into notes": ["editor.transcribe"],
    "play, record, jam": ["editor.play", "editor.record", "editor.jam"],
    "export for a DAW": ["editor.export"],
}


def _keys_by_id() -> dict[str, str]:
    keys = {c.id: c.keys for c in COMMANDS}
    keys.update({b.id: b.key for b in PianoRoll.BINDINGS if getattr(b, "id", None)})
    return keys


def _editor_cells() -> dict[str, list[str]]:
    cells = {}
    for line in README.read_text().splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) >= 3:
            cells[parts[0]] = re.findall(r"`([^`]+)`", parts[1])
    return cells


def test_the_readme_key_column_matches_the_bindings():
    keys, cells = _keys_by_id(), _editor_cells()
    for start, ids in ROWS.items():
        [row] = [k for k in cells if k.startswith(start)]
        shown = [k.casefold() for k in cells[row]]
        bound = [
            key_label(keys[i]).casefold() for i in ids
        ]  # "ctrl+e" reads "Ctrl+e", the README "Ctrl+E"
        assert shown == bound, (row, cells[row], bound)
