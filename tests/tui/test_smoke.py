"""Run scripts/tui_smoke.sh: the real editor in tmux, driven by keys, checked by screen text."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tui_smoke_script_in_tmux(tmp_path: Path):
    env = dict(os.environ, COMPOSER_STATE_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tui_smoke.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tui_smoke: OK" in result.stdout
