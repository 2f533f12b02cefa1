"""Audio inputs at the edges: 8 to 192 kHz, zero-length, silent, clipped, odd channel
layouts, an hour streamed in bounded memory (RSS, in a fresh process), truncated
files, wrong extensions and files that are not audio. (tests/audio covers the
common rates, formats and the transcription of real recordings.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from composer.audio.features import SAMPLE_RATE
from composer.audio.load import LevelStats, iter_windows, load_audio, probe
from composer.errors import InputFileError
from composer.services.transcribe import _audio_messages

ROOT = Path(__file__).resolve().parents[2]


def sine(rate: int, seconds: float, freq: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return level * np.sin(2 * np.pi * freq * t)


def peak_hz(audio: np.ndarray) -> float:
    part = audio[SAMPLE_RATE // 4: SAMPLE_RATE // 4 + SAMPLE_RATE // 2]
    return float(np.argmax(np.abs(np.fft.rfft(part))) * SAMPLE_RATE / part.size)


@pytest.mark.parametrize("rate,subtype", [(8_000, "PCM_16"), (11_025, "PCM_U8"),
                                          (48_000, "PCM_24"), (96_000, "FLOAT"),
                                          (192_000, "PCM_24")])
def test_rates_from_8_to_192_khz_become_16k(tmp_path, rate, subtype):
    path = tmp_path / f"tone-{rate}.wav"
    sf.write(str(path), np.stack([sine(rate, 1.0)] * 2, axis=1), rate, subtype=subtype)
    info = probe(path)
    assert (info.sample_rate, info.channels) == (rate, 2)
    audio = load_audio(path)
    assert abs(audio.size - SAMPLE_RATE) <= 2
    assert abs(peak_hz(audio) - 440) < 3


def test_channels_are_mixed_to_mono(tmp_path):
    left_only = tmp_path / "left.wav"
    sf.write(str(left_only), np.stack([sine(SAMPLE_RATE, 1.0), np.zeros(SAMPLE_RATE)], axis=1),
             SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(left_only), sine(SAMPLE_RATE, 1.0) / 2, atol=1e-6)
    surround = tmp_path / "surround.flac"
    sf.write(str(surround), np.stack([sine(44_100, 1.0, 440.0 * (1 + k % 2), 0.1)
                                      for k in range(6)], axis=1), 44_100)
    assert probe(surround).channels == 6
    assert load_audio(surround).size == pytest.approx(SAMPLE_RATE, abs=2)


def test_zero_length_audio_loads_as_nothing_and_says_so(tmp_path):
    path = tmp_path / "nothing.wav"
    sf.write(str(path), np.zeros((0, 1)), 44_100)
    assert path.stat().st_size > 0  # a header, no samples
    info = probe(path)
    assert info.duration_s == 0
    stats = LevelStats()
    assert list(iter_windows(path, stats=stats)) == []
    assert load_audio(path).size == 0
    assert _audio_messages(stats, info.duration_s) == ["The file holds no audio samples."]


def test_silent_and_clipped_recordings_are_named(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(2 * SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16")
    stats = LevelStats()
    list(iter_windows(silent, stats=stats))
    assert stats.samples == 2 * SAMPLE_RATE and stats.peak == 0
    assert _audio_messages(stats, 2.0) == [
        "The recording is silent (quieter than -60 dBFS throughout)."]
    clipped = tmp_path / "clipped.flac"
    sf.write(str(clipped), np.clip(sine(44_100, 2.0, level=3.0), -1, 1), 44_100)
    stats = LevelStats()
    list(iter_windows(clipped, stats=stats))
    (message,) = _audio_messages(stats, 2.0)
    assert message.startswith("The recording clips (distorts) in ") and "%" in message


def test_truncated_file_reads_what_is_there_or_says_it_is_damaged(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(str(path), sine(SAMPLE_RATE, 4.0), SAMPLE_RATE, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2 + 1])  # the header still promises 4 seconds
    try:
        audio = load_audio(path)
    except InputFileError as err:
        assert str(path) in err.one_line() and "\n" not in err.one_line()
    else:
        assert 1.9 * SAMPLE_RATE < audio.size <= 4 * SAMPLE_RATE


@pytest.mark.parametrize("name,content,words", [
    ("notes.wav", b"just some words, not sound\n" * 40, "cannot be decoded"),
    ("picture.flac", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(500), "cannot be decoded"),
    ("score.mp3", b"%PDF-1.7\n" + bytes(500), "PDF"),
    ("song.ogg", b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0", "MIDI"),
    ("header-only.wav", b"RIFF\x24\x00\x00\x00WAVE", "cannot be decoded"),
])
def test_files_that_are_not_audio_get_one_clear_sentence(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError) as err:
        load_audio(path)
    line = err.value.one_line()
    assert words in line and str(path) in line and "\n" not in line


def test_flac_with_a_wav_name_is_read_by_its_contents(tmp_path):
    path = tmp_path / "really-flac.wav"
    sf.write(str(path), sine(22_050, 1.0), 22_050, format="FLAC")
    assert probe(path).format == "FLAC"
    assert abs(peak_hz(load_audio(path)) - 440) < 3


def test_an_hour_streams_in_bounded_memory_measured_as_rss(tmp_path):
    # One hour of 8 kHz, 8-bit audio (29 MB on disk), generated here. Decoded whole at
    # 16 kHz it would be 230 MB of float32; streamed, the process grows by a window.
    path = tmp_path / "hour.wav"
    rate = 8_000
    minute = sine(rate, 60.0, freq=220.0, level=0.4).astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_U8") as out:
        for _ in range(60):
            out.write(minute)
    script = textwrap.dedent(f"""
        import json, resource
        import numpy as np
        from composer.audio.load import LevelStats, iter_windows, probe
        def rss_mb():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        path = {str(path)!r}
        # Warm up: imports, the resampler, one window.
        next(iter_windows(path, core_s=30.0))
        before = rss_mb()
        peak, frames, stats = before, 0, LevelStats()
        for window in iter_windows(path, core_s=30.0, stats=stats):
            frames += window.core_frames
            peak = max(peak, rss_mb())
        print(json.dumps({{"before": before, "peak": peak, "frames": frames,
                          "samples": stats.samples, "seconds": probe(path).duration_s,
                          "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=True)
    figures = json.loads(done.stdout)
    assert figures["seconds"] == pytest.approx(3600)
    assert figures["samples"] == 3600 * rate
    assert figures["frames"] > 0
    assert figures["peak"] - figures["before"] < 60, figures
