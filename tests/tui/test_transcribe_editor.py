"""Transcribe from the editor: a recording (rendered here with FluidSynth) becomes a
new track, in one undoable edit. The command needs the transcription model
(``models/transcription``); where it is not installed, the key must lead nowhere."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from composer.core.song import Note, Song, Track
from composer.services.capabilities import transcription_installed
from composer.tui.app import make_app
from composer.tui.screens.dialogs import FormDialog
from tests.tui.conftest import two_track_song
from tests.tui.test_editor import SIZE, wait_for


def _render_scale(path: Path) -> None:
    import numpy as np
    import soundfile as sf

    from composer.audio import render
    from composer.io.midi_file import song_to_midi_bytes

    notes = tuple(
        Note(pitch=p, start_tick=i * 480, duration_ticks=440, velocity=90)
        for i, p in enumerate((60, 62, 64, 65, 67, 69, 71, 72))
    )
    midi = song_to_midi_bytes(Song(tracks=(Track(name="Flute", notes=notes, program=73),)))
    audio = render.render_midi_bytes(midi, render.TRAINING_SOUNDFONTS["fluidr3"])
    sf.write(str(path), np.clip(audio, -1, 1), 16_000, subtype="PCM_16")


async def test_transcribe_a_recording_into_a_new_track(
    tmp_path: Path, project_file, isolated_state
):
    app = make_app(project_file(two_track_song()), state_dir=isolated_state)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.editor
        before = editor.session.song
        await pilot.press("a")
        if not transcription_installed():
            assert app.screen is editor  # no model: no dialog, no error, the song as it was
            assert not any(
                t.startswith("Transcribe")
                for t in (c.title for c in app.get_system_commands(editor))
            )
            assert editor.session.song == before
            return
        wav = tmp_path / "scale.wav"
        _render_scale(wav)
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        dialog.query_one("#field-path", Input).value = str(wav)
        dialog.query_one("#field-path", Input).focus()
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: editor.job is None and editor.messages[-1].startswith("Transcribe scale.wav"),
            timeout=300,
        )
        song = editor.session.song
        assert len(song.tracks) == 3 and song.tracks[:2] == before.tracks
        heard = [n.pitch for n in song.tracks[2].notes]
        assert heard and editor.roll.track_index == 2
        first = min(song.tracks[2].notes)
        assert (editor.roll.cursor_tick, editor.roll.cursor_pitch) == (
            editor.roll.snap(first.start_tick),
            first.pitch,
        )  # the cursor goes to what was heard
        assert sum(p in (60, 62, 64, 65, 67, 69, 71, 72) for p in heard) >= len(heard) // 2
        await pilot.press("ctrl+z")
        assert editor.session.song == before
