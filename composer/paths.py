"""Where composer keeps things: shipped models, caches, user state.

Every location can be moved with an environment variable, which is how tests
and CI keep their state apart from a user's.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    """Shipped checkpoints and their model cards."""
    return Path(os.environ.get("COMPOSER_MODELS_DIR", REPO_ROOT / "models"))


def cache_dir() -> Path:
    """Built corpora, token shards, rendered audio: rebuildable, never committed."""
    base = os.environ.get("COMPOSER_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "composer"


def state_dir() -> Path:
    """The last project, autosave recovery files, settings."""
    base = os.environ.get("COMPOSER_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "composer"


def heldout_file() -> Path:
    """The held-out split list (a copy of ../shared/corpus/heldout.json, kept in git)."""
    return Path(os.environ.get("COMPOSER_HELDOUT", REPO_ROOT / "corpora" / "heldout.json"))


def pop909_dir() -> Path:
    """POP909 (MIT licence), shipped beside the project in ../shared/datasets."""
    default = REPO_ROOT.parent / "shared" / "datasets" / "pop909" / "POP909"
    return Path(os.environ.get("COMPOSER_POP909_DIR", default))
