"""Layering, proven in fresh processes: no non-UI module loads Textual (or the
TUI, or the CLI), core loads nothing heavy, and ``composer --help`` stays light.

Checks look at ``sys.modules`` after the import, never at wall time.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NON_UI_PACKAGES = ("composer.core", "composer.io", "composer.services", "composer.ml",
                   "composer.live", "composer.audio", "composer.analysis", "corpora")
HEAVY = ("torch", "textual", "mido", "rtmidi", "music21", "librosa", "miditok", "symusic",
         "scipy", "numba", "jsonschema")


def modules_of(package: str) -> list[str]:
    found = [package]
    root = importlib.import_module(package)
    found += [info.name for info in pkgutil.walk_packages(root.__path__, f"{package}.")]
    return found


def loaded_after_import(module: str) -> list[str]:
    """Top-level packages (and composer's UI modules) loaded by importing ``module``
    in a fresh interpreter."""
    code = textwrap.dedent(f"""
        import importlib, json, sys
        importlib.import_module({module!r})
        names = {{m.split(".")[0] for m in sys.modules}}
        names |= {{m for m in ("composer.tui", "composer.cli") if m in sys.modules}}
        print(json.dumps(sorted(names)))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout)


# Every non-UI module, each imported in a process that has loaded no composer
# module and no Textual. Starting one interpreter per module costs a torch
# import for every ML module, so one interpreter loads torch and numpy first
# (both are allowed below the UI) and forks a child per module: each child
# starts with no composer module loaded, as a fresh interpreter would.
_FORKING_CHECK = textwrap.dedent("""
    import importlib, json, os, sys
    import numpy, torch  # noqa: F401  (allowed below the UI; loaded once for speed)
    assert not [m for m in sys.modules if m.split(".")[0] in ("composer", "corpora", "textual")]
    report = {}
    for module in sys.argv[1:]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                importlib.import_module(module)
                bad = sorted(m for m in sys.modules if m.split(".")[0] == "textual"
                             or m in ("composer.tui", "composer.cli"))
                answer = json.dumps(bad)
            except BaseException as err:
                answer = json.dumps(["import failed: " + repr(err)])
            os.write(write_end, answer.encode())
            os._exit(0)
        os.close(write_end)
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
        report[module] = json.loads(data or b'["child died"]')
    print(json.dumps(report))
""")


def test_no_non_ui_module_loads_textual_the_tui_or_the_cli():
    modules = [m for package in NON_UI_PACKAGES for m in modules_of(package)]
    assert len(modules) > 40  # the walk found the modules, not just the packages
    result = subprocess.run([sys.executable, "-c", _FORKING_CHECK, *modules],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert set(report) == set(modules)
    offenders = {module: bad for module, bad in report.items() if bad}
    assert offenders == {}


@pytest.mark.parametrize("module", modules_of("composer.core") + ["composer.errors",
                                                                   "composer.paths"])
def test_core_imports_nothing_heavy(module):
    loaded = loaded_after_import(module)
    assert not set(loaded) & set(HEAVY), module
    assert "numpy" not in loaded


@pytest.mark.parametrize("module", ["composer.io.midi_file", "composer.io.music21_convert",
                                    "composer.io.song_files", "composer.io.project_file",
                                    "composer.io.atomic", "corpora.music21_corpus",
                                    "corpora.midi_folder", "corpora.store"])
def test_file_modules_load_their_libraries_only_when_used(module):
    assert not set(loaded_after_import(module)) & set(HEAVY), module


def test_help_loads_no_heavy_library():
    code = textwrap.dedent("""
        import contextlib, io, json, sys
        from composer.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                main(["--help"])
            except SystemExit as done:
                assert done.code == 0
        print(json.dumps({"help": out.getvalue(),
                          "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert not set(data["loaded"]) & set(HEAVY + ("numpy", "tqdm"))
    for name in ("info", "export", "corpus"):
        assert f"    {name}" in data["help"]


def test_the_installed_command_prints_help():
    result = subprocess.run([str(Path(sys.executable).parent / "composer"), "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: composer")
