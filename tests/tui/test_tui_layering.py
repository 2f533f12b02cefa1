"""The editor's layering: it uses services and the song model only, and its first
frame needs nothing heavy (models and their libraries load later, in a worker)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "composer" / "tui"
ALLOWED = ("composer.core", "composer.services", "composer.errors", "composer.tui")
HEAVY = (
    "torch",
    "music21",
    "mido",
    "rtmidi",
    "librosa",
    "miditok",
    "symusic",
    "numpy",
    "scipy",
    "jsonschema",
)


def test_tui_imports_only_services_core_and_errors():
    offending = []
    for path in TUI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith(("composer", "corpora")) and not name.startswith(ALLOWED):
                    offending.append(f"{path.relative_to(TUI)}: {name}")
    assert offending == []


def test_opening_the_editor_module_loads_nothing_heavy():
    code = textwrap.dedent("""
        import json, sys
        import composer.tui.app
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert "textual" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
