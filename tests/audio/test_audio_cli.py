"""`composer transcribe`, `composer eval transcription`, `composer bench transcribe`."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from composer.audio import render
from composer.audio.features import SAMPLE_RATE
from composer.cli import main
from composer.core.song import Note, Song, TempoChange, Track
from composer.io.midi_file import read_midi


def _melody_wav(path) -> list[int]:
    pitches = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72]
    notes = tuple(Note(pitch=p, start_tick=480 * (i + 2), duration_ticks=440, velocity=90)
                  for i, p in enumerate(pitches))
    song = Song(tracks=(Track("t", notes),), tempos=(TempoChange.from_bpm(0, 110),))
    midi, _, _ = render.session_midi_bytes([render.song_to_excerpt(song, [0])])
    audio = render.render_midi_bytes(midi, render.TRAINING_SOUNDFONTS["fluidr3"])
    sf.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
    return pitches


def test_transcribe_writes_midi_and_the_performance(tmp_path, capsys):
    wav = tmp_path / "idea.wav"
    pitches = _melody_wav(wav)
    out, played = tmp_path / "idea.mid", tmp_path / "idea-played.mid"
    assert main(["transcribe", str(wav), "-o", str(out), "--quantize", "1/8",
                 "--performance", str(played)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "notes" in printed
    song = read_midi(out)
    assert [n.pitch for n in song.tracks[0].notes] == pitches
    assert all(n.start_tick % 240 == 0 for n in song.tracks[0].notes)
    assert [n.pitch for n in read_midi(played).tracks[0].notes] == pitches


def test_transcribe_to_musicxml_with_a_given_tempo(tmp_path):
    wav = tmp_path / "idea.flac"
    _melody_wav(wav)
    out = tmp_path / "idea.musicxml"
    assert main(["transcribe", str(wav), "-o", str(out), "--tempo", "110", "--mode",
                 "mono"]) == 0
    assert out.read_text().lstrip().startswith("<?xml")


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(300))
    assert main(["transcribe", str(video), "-o", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err and "Traceback" not in err
    wav = tmp_path / "ok.wav"
    sf.write(str(wav), np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    assert main(["transcribe", str(wav), "-o", str(tmp_path / "x.mid"), "--quantize",
                 "1/5"]) == 2
    assert "quantize" in capsys.readouterr().err


def test_eval_transcription_json_has_every_condition(capsys):
    assert main(["eval", "transcription", "--limit", "1", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    for kind in ("poly", "mono"):
        for condition in ("clean", "noise", "reverb"):
            row = table[kind][condition]
            assert set(row) >= {"f1", "f1_offset", "precision", "recall"}
            assert 0.0 <= row["f1"] <= 1.0
    assert "piano/clean" in table["poly"] and table["about"]["soundfont"] == "TimGM6mb.sf2"


def test_bench_transcribe_json(capsys):
    assert main(["bench", "transcribe", "--minutes", "0.25", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("s_per_audio_min_warm", "s_per_audio_min_cold", "peak_rss_mb",
                "s_per_audio_min_features", "warm_vs_features"):
        assert report[key] > 0
