"""Reading audio: formats, rates, channels, windows, bounded memory, bad files."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from composer.audio.features import HOP, SAMPLE_RATE
from composer.audio.load import LevelStats, iter_windows, load_audio, probe
from composer.errors import InputFileError


def _sine(rate: int, seconds: float, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("suffix,fmt", [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG"),
                                        (".mp3", "MP3")])
@pytest.mark.parametrize("rate,channels", [(44_100, 2), (22_050, 1), (16_000, 1)])
def test_formats_rates_and_channels_become_16k_mono(tmp_path, suffix, fmt, rate, channels):
    path = tmp_path / f"tone{suffix}"
    sf.write(str(path), _sine(rate, 1.5, channels=channels), rate, format=fmt)
    audio = load_audio(path)
    # MP3 encoders add padding at the ends; every format keeps the length within 0.1 s.
    assert abs(audio.size - 1.5 * SAMPLE_RATE) < 0.1 * SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(audio[SAMPLE_RATE // 4: SAMPLE_RATE]))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / (0.75 * SAMPLE_RATE)
    assert abs(peak_hz - 440) < 3


def test_wrong_extension_is_read_by_its_contents(tmp_path):
    path = tmp_path / "really_a_wav.mp3"
    sf.write(str(path), _sine(16_000, 1.0), 16_000, format="WAV")
    assert probe(path).format == "WAV"
    assert load_audio(path).size == SAMPLE_RATE


def test_windows_tile_the_file_exactly(tmp_path):
    path = tmp_path / "ramp.wav"
    samples = int(7.3 * SAMPLE_RATE)
    ramp = (np.arange(samples) % 1000) / 1000 - 0.5
    sf.write(str(path), ramp, SAMPLE_RATE, subtype="FLOAT")
    windows = list(iter_windows(path, core_s=2.0, context_s=0.5))
    assert [w.first_frame for w in windows] == [0, 125, 250, 375]
    joined = np.concatenate([w.audio[w.context:w.context + w.core] for w in windows])
    np.testing.assert_allclose(joined, ramp, atol=1e-6)
    for w in windows:
        assert w.audio.size == w.core + 2 * w.context or w is windows[-1]
        assert w.context % HOP == 0
    # Context before the first window is silence, as is context past the end.
    assert not windows[0].audio[:windows[0].context].any()
    assert not windows[-1].audio[windows[-1].context + windows[-1].core:].any()


def test_three_hour_file_streams_in_bounded_memory(tmp_path):
    # Three hours, generated here (8-bit at 4 kHz keeps the file at 43 MB): decoding
    # all of it at 16 kHz would take 691 MB of float32; streaming holds one window.
    rate = 4_000
    path = tmp_path / "rehearsal.wav"
    minute = (_sine(rate, 60.0, freq=220.0) * 0.6).astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_U8") as out:
        for _ in range(180):
            out.write(minute)
    assert probe(path).duration_s == pytest.approx(3 * 3600)
    tracemalloc.start()
    stats = LevelStats()
    frames = 0
    for window in iter_windows(path, core_s=30.0, stats=stats):
        frames += window.core_frames
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert frames == 3 * 3600 * SAMPLE_RATE // HOP
    assert peak < 20 * 1024 * 1024
    assert stats.samples == 3 * 3600 * rate and stats.clipped == 0


def test_clipping_is_counted(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(str(path), np.clip(_sine(16_000, 1.0) * 4, -1, 1), 16_000, subtype="PCM_16")
    stats = LevelStats()
    list(iter_windows(path, stats=stats))
    assert stats.clipped_fraction > 0.3 and stats.peak == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name,content,words", [
    ("video.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(2000), "MP4"),
    ("video.mkv", b"\x1a\x45\xdf\xa3" + bytes(2000), "Matroska"),
    ("song.wav", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0"
     b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", "MIDI"),
    ("corrupt.wav", b"RIFF\xff\xff\x00\x00WAVEfmt " + bytes(8) + b"garbage", "cannot be decoded"),
    ("noise.flac", bytes(range(256)) * 8, "cannot be decoded"),
    ("empty.wav", b"", "empty"),
])
def test_bad_files_get_one_clear_sentence(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError) as err:
        probe(path)
    text = err.value.one_line()
    assert words in text and "\n" not in text and str(path) in text


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        probe(tmp_path / "nope.wav")
    with pytest.raises(InputFileError, match="folder"):
        probe(tmp_path)


def test_real_video_file_from_ffmpeg_is_refused_clearly(tmp_path):
    import shutil
    import subprocess

    assert shutil.which("ffmpeg"), "ffmpeg is a listed dependency (run.sh installs it)"
    path = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=1:size=32x32:rate=5", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-shortest", str(path)], check=True)
    with pytest.raises(InputFileError, match="MP4"):
        probe(path)
