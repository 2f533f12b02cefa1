"""Building training corpora (the music21 corpus, POP909, or a folder of MIDI files)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from composer.services.jobs import Progress, no_progress


def build_corpus(source: str = "music21", processes: int | None = None,
                 progress: Progress = no_progress,
                 cancel: threading.Event | None = None, limit: int | None = None,
                 name: str | None = None) -> dict[str, Any]:
    """Build and cache a corpus; returns its manifest (counts per split, skipped files).

    A folder of MIDI files becomes melody token shards under the name ``name``
    (default: the folder's name and a hash of its path), resuming any earlier
    build of the same name.
    """
    def on_progress(done: int, total: int) -> None:
        progress(done / total, f"{done}/{total} " + ("pieces" if source in ("music21", "pop909")
                                                    else "files"))

    if source in ("music21", "pop909") and name is not None:
        from composer.errors import InvalidArgumentError

        raise InvalidArgumentError(f"--name is for folders of MIDI files; {source} keeps its name")
    if source == "music21":
        from corpora import music21_corpus

        return music21_corpus.build(processes=processes, progress=on_progress, limit=limit,
                                    cancel=cancel)
    if source == "pop909":
        from corpora import pop909

        return pop909.build(progress=on_progress, cancel=cancel, limit=limit)
    from corpora import midi_folder

    return midi_folder.build(Path(source), name=name, workers=processes, progress=on_progress,
                             cancel=cancel)
