"""SVG snapshots of the editor's main screens (pytest-textual-snapshot).

Sizes are fixed, no clock is drawn, colours come from a fixed palette, the
models are those of a clean clone (the footer shows what they allow), and the
candidate lanes are filled with fixed notes, so the pictures only change when
the screens do. After an intended change: ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import pytest

from composer.core.song import Note, Track
from composer.tui.app import make_app
from composer.tui.widgets.candidates import Candidate, CandidateSet
from tests.tui.conftest import two_track_song

pytestmark = pytest.mark.usefixtures("clone_models")


def _app(project_file, state_dir):
    return make_app(project_file(two_track_song()), state_dir=state_dir)


def test_editor(snap_compare, project_file, isolated_state):
    """The editor on a two-track song: ruler, note names, colours, cursor, track list, footer."""

    async def select(pilot):
        await pilot.press("down", "down", "home", "b")

    assert snap_compare(
        _app(project_file, isolated_state), terminal_size=(110, 32), run_before=select
    )


def test_demo_tune_first_start(snap_compare, isolated_state):
    """What `composer` shows the first time: the bundled demo chorale."""
    assert snap_compare(make_app(state_dir=isolated_state), terminal_size=(120, 36))


def test_candidate_lanes(snap_compare, project_file, isolated_state):
    """Three continuations side by side, the second highlighted and drawn in the roll."""

    def line(*pitches: int) -> Track:
        notes = tuple(
            Note(pitch=p, start_tick=3840 + i * 480, duration_ticks=480)
            for i, p in enumerate(pitches)
            if p
        )
        return Track(name="Melody", notes=notes, program=73)

    candidates = CandidateSet(
        kind="continue",
        title="Continuation of Melody (transformer)",
        candidates=(
            Candidate((line(64, 65, 67, 72, 71, 69, 67, 0),), (0,)),
            Candidate((line(60, 59, 60, 62, 64, 62, 60, 60),), (0,)),
            Candidate((line(67, 69, 71, 72, 74, 72, 71, 67),), (0,)),
        ),
        start_tick=3840,
        end_tick=7680,
        track_index=0,
        messages=("the prompt was in C major; kept to its key",),
    )

    async def show(pilot):
        app = pilot.app
        app.editor.show_candidates(candidates, lambda i: (app.editor.session.song, "noop"))
        await pilot.pause()
        await pilot.press("right")

    assert snap_compare(
        _app(project_file, isolated_state), terminal_size=(110, 36), run_before=show
    )


def test_help_screen(snap_compare, isolated_state):
    """F1: every key, grouped."""
    assert snap_compare(make_app(state_dir=isolated_state), terminal_size=(110, 40), press=["f1"])


def test_compact_layout_at_40_by_12(snap_compare, project_file, isolated_state):
    """A 40x12 terminal: the track list folds away and the roll still shows and edits."""
    assert snap_compare(_app(project_file, isolated_state), terminal_size=(40, 12))


def test_error_dialog_over_the_editor(snap_compare, project_file, isolated_state):
    """A bad file: one clear message in a dialog in the middle, the song dimmed behind it."""
    from composer.errors import InputFileError

    async def fail(pilot):
        pilot.app.editor.report_error(
            InputFileError(
                "broken.mid: not a MIDI file (the header is damaged)",
                "open another file; your song is unchanged",
            ),
            "Open broken.mid",
        )
        await pilot.pause()

    assert snap_compare(
        _app(project_file, isolated_state), terminal_size=(100, 30), run_before=fail
    )


def test_harmonize_form_at_40_by_12(snap_compare, project_file, isolated_state):
    """A form in a 40x12 terminal: no frame, one-line fields, the buttons still on screen."""
    assert snap_compare(_app(project_file, isolated_state), terminal_size=(40, 12), press=["h"])
