"""Build the bundled demo tune, composer/data/demo.composer.

The demo is Luther's hymn "Ein feste Burg ist unser Gott" in J. S. Bach's
four-part setting (BWV 80.8), both long in the public domain, taken from the
chorale encodings shipped inside the music21 wheel and converted exactly as the
training corpus converts chorales. Each voice gets its own woodwind sound so
the parts are easy to tell apart on playback.

    .venv/bin/python scripts/make_demo.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from composer.core.pitch import estimate_key  # noqa: E402
from composer.io.project_file import Project, write_project  # noqa: E402
from corpora.music21_corpus import Job, parse_job  # noqa: E402

CHORALE = "bach/bwv80.8"
TITLE = "Ein feste Burg ist unser Gott (BWV 80.8)"
# GM programs: oboe, clarinet, French horn, bassoon.
PROGRAMS = {"Soprano": 68, "Alto": 71, "Tenor": 60, "Bass": 70}
TEMPO_BPM = 84


def main() -> int:
    from composer.core.song import TempoChange

    _, song, reason = parse_job(Job("chorales", CHORALE, "bach"))
    if song is None:
        print(f"cannot build the demo from {CHORALE}: {reason}", file=sys.stderr)
        return 1
    tracks = tuple(replace(t, program=PROGRAMS[t.name]) for t in song.tracks)
    keys = song.keys or (replace(estimate_key(n for t in tracks for n in t.notes), tick=0),)
    song = replace(
        song, title=TITLE, tracks=tracks, keys=keys, tempos=(TempoChange.from_bpm(0, TEMPO_BPM),)
    )
    out = ROOT / "composer" / "data" / "demo.composer"
    write_project(Project(song=song, view={}), out)
    print(
        f"wrote {out}: {len(song.tracks)} tracks, {song.note_count} notes, key {song.keys[0].name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
