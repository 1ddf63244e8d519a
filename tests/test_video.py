"""summarizer.decode: timestamps, sampling, resizing, batches, image folders, bad inputs."""

from __future__ import annotations

import subprocess
import tracemalloc
import warnings
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from summarizer import decode as video
from summarizer import synth
from summarizer.config import SampleSettings
from summarizer.errors import InputError, SettingsError

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        capture_output=True,
    )


def coded_frames(n: int, size=(160, 120)) -> list[np.ndarray]:
    """Flat frames whose grey level codes their index (survives H.264: flat areas are exact)."""
    return [np.full((size[1], size[0], 3), (i * 7) % 200 + 20, np.uint8) for i in range(n)]


def code_of(images: np.ndarray) -> np.ndarray:
    """Index codes back from decoded grey frames: value = (i * 7) % 200 + 20."""
    return np.round(images.reshape(len(images), -1).mean(1)).astype(int)


@pytest.fixture(scope="module")
def cfr(tmp_path_factory) -> Path:
    """4 s, 25 fps, 320x240, a key frame every 10 frames."""
    path = tmp_path_factory.mktemp("cfr") / "cfr.mp4"
    shots = [synth.Shot("pan", 2.0, seed=1), synth.Shot("zoom", 2.0, seed=2)]
    synth.write_video(path, synth.render_shots(shots, 25.0, (320, 240)), 25.0, (320, 240), gop=10)
    return path


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> Path:
    """300 flat frames (12 s at 25 fps) whose brightness codes the frame index; GOP 50."""
    path = tmp_path_factory.mktemp("coded") / "coded.mp4"
    synth.write_video(path, iter(coded_frames(300)), 25.0, (160, 120), gop=50)
    return path


@pytest.fixture(scope="module", params=["mp4", "mkv"])
def vfr(tmp_path_factory, request) -> Path:
    """Variable frame rate: 10 fps for 0-2 s, 30 fps for 2-4 s, 5 fps for 4-6 s."""
    path = tmp_path_factory.mktemp("vfr") / f"vfr.{request.param}"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=6",
        "-vf", "select='if(lt(t,2),not(mod(n,3)),if(lt(t,4),1,not(mod(n,6))))'",
        "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


VFR_TIMES = np.concatenate(
    [np.arange(20) / 10, 2 + np.arange(60) / 30, 4 + np.arange(10) / 5]
)  # the true presentation times of the VFR file


def collect(path, settings):
    batches = list(video.iter_frames(path, settings))
    if not batches:
        return np.zeros(0), np.zeros(0, int), np.zeros((0, 1, 1, 3), np.uint8), batches
    return (
        np.concatenate([b.times_s for b in batches]),
        np.concatenate([b.indices for b in batches]),
        np.concatenate([b.images for b in batches]),
        batches,
    )


# --------------------------------------------------------------------------- probe


def test_probe_constant_rate(cfr):
    p = video.probe(cfr)
    assert (p.width, p.height, p.frame_count) == (320, 240, 100)
    assert p.fps == pytest.approx(25.0, rel=1e-3)
    assert p.duration_s == pytest.approx(4.0, abs=0.05)


def test_probe_variable_rate(vfr):
    p = video.probe(vfr)
    assert p.frame_count == 90
    assert p.duration_s == pytest.approx(6.0, abs=0.25)
    assert p.fps == pytest.approx(90 / p.duration_s, rel=1e-6)


# --------------------------------------------------------------------------- sampling


def test_target_fps_constant_rate(cfr):
    times, idx, images, _ = collect(cfr, SampleSettings(fps=2))
    assert len(times) == 8  # targets 0, 0.5, ... 3.5 s; the video ends at 4 s
    np.testing.assert_allclose(times, np.arange(8) * 0.5, atol=0.02 + 1e-3)  # nearest frame
    np.testing.assert_array_equal(idx[::2], [0, 25, 50, 75])
    np.testing.assert_allclose(times, idx / 25.0, atol=1e-3)  # times are the frames' own
    assert images.dtype == np.uint8 and images.shape == (8, 224, 298, 3)


def test_variable_frame_rate_times_come_from_the_stream(vfr):
    times, idx, _, _ = collect(vfr, SampleSettings(fps=None, every_n=1, short_side=64))
    np.testing.assert_allclose(times, VFR_TIMES, atol=2e-3)
    np.testing.assert_array_equal(idx, np.arange(90))
    # 2 fps: each target time takes the frame whose timestamp is nearest
    times, idx, _, _ = collect(vfr, SampleSettings(fps=2, short_side=64))
    targets = np.arange(len(times)) * 0.5
    nearest = np.abs(VFR_TIMES[None, :] - targets[:, None]).min(1)
    np.testing.assert_allclose(np.abs(times - targets), nearest, atol=2e-3)
    assert np.all(np.abs(times - targets) <= 0.1 + 1e-3)  # never off by more than half a frame
    assert len(times) == 12 and times[-1] == pytest.approx(5.4, abs=2e-3)  # targets 0 .. 5.5 s
    # 20 fps on the 10/5 fps parts takes every frame once, no duplicates
    times, idx, _, _ = collect(vfr, SampleSettings(fps=20, short_side=64))
    assert len(np.unique(idx)) == len(idx)
    assert set(range(0, 20)) <= set(idx.tolist()) and set(range(80, 90)) <= set(idx.tolist())


def test_every_nth_frame(cfr):
    times, idx, _, _ = collect(cfr, SampleSettings(fps=None, every_n=7, short_side=64))
    np.testing.assert_array_equal(idx, np.arange(0, 100, 7))
    np.testing.assert_allclose(times, idx / 25.0, atol=1e-3)


def test_keyframes_only(cfr):
    _, idx, _, _ = collect(cfr, SampleSettings(fps=None, keyframes_only=True, short_side=64))
    np.testing.assert_array_equal(idx, np.arange(0, 100, 10))
    _, idx, _, _ = collect(
        cfr, SampleSettings(fps=None, keyframes_only=True, every_n=3, short_side=64)
    )
    np.testing.assert_array_equal(idx, [0, 30, 60, 90])


def test_start_and_end(cfr):
    times, _, _, _ = collect(cfr, SampleSettings(fps=4, start_s=1.0, end_s=2.5, short_side=64))
    np.testing.assert_allclose(times, [1.0, 1.25, 1.5, 1.75, 2.0, 2.25], atol=0.02 + 1e-3)
    times, _, _, _ = collect(cfr, SampleSettings(fps=None, start_s=3.5, short_side=64))
    assert times[0] == pytest.approx(3.52) and times[-1] == pytest.approx(3.96)
    with pytest.raises(InputError, match="no frames in the range"):
        collect(cfr, SampleSettings(start_s=10.0))


def test_select_indices_nearest_and_unique():
    times = np.array([0.0, 0.1, 0.2, 1.0, 1.05, 3.0])
    idx = video.select_indices(times, SampleSettings(fps=1))
    np.testing.assert_array_equal(idx, [0, 3, 4, 5])  # targets 0, 1, 2 (-> 1.05), 3
    idx = video.select_indices(times, SampleSettings(fps=1), duration=2.5)
    np.testing.assert_array_equal(idx, [0, 3, 4])  # no target at 3 s: the video ended
    assert list(video.select_indices(times, SampleSettings(fps=100))) == list(range(6))
    assert len(video.select_indices(np.zeros(0), SampleSettings())) == 0


def test_frames_are_the_right_ones(coded):
    """The decoded pixels belong to the reported index, also across seeks and skips."""
    for s in (
        SampleSettings(fps=None, short_side=64),  # every frame
        SampleSettings(fps=0.3, short_side=64),  # sparse: seeks past key frames
        SampleSettings(fps=3, start_s=5.0, short_side=64),
        SampleSettings(fps=None, keyframes_only=True, short_side=64),
    ):
        _, idx, images, _ = collect(coded, s)
        assert len(idx) > 0
        np.testing.assert_allclose(code_of(images), (idx * 7) % 200 + 20, atol=2)


# --------------------------------------------------------------------------- size, batches


def test_resize_during_decode_keeps_aspect(cfr):
    _, _, images, _ = collect(cfr, SampleSettings(fps=1, short_side=100))
    assert images.shape[1:] == (100, 134, 3)  # 320x240 -> 133.3 -> even 134
    _, _, images, _ = collect(cfr, SampleSettings(fps=1, short_side=1024))
    assert images.shape[1:] == (240, 320, 3)  # never upscaled
    assert video.target_size(1080, 1920, 224) == (224, 398)  # portrait
    assert video.target_size(1920, 1080, 223) == (396, 224)  # sides even


def test_bounded_batches(cfr):
    s = SampleSettings(fps=None, short_side=64, batch_frames=16)
    times, idx, images, batches = collect(cfr, s)
    assert [len(b) for b in batches] == [4, 8, 16, 16, 16, 16, 16, 8]  # ramp up, then 16
    full = collect(cfr, SampleSettings(fps=None, short_side=64, batch_frames=1000))
    np.testing.assert_array_equal(idx, full[1])
    np.testing.assert_array_equal(images, full[2])


def test_memory_stays_flat(tmp_path):
    """Decoding all 1500 frames of a minute at batch 32 must not hold them all."""
    psutil = pytest.importorskip("psutil")
    path = tmp_path / "minute.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=480x270:rate=25:duration=60",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    proc = psutil.Process()
    gen = video.iter_frames(path, SampleSettings(fps=None, short_side=224, batch_frames=32))
    first = next(gen)
    tracemalloc.start()  # numpy buffers are traced
    start = proc.memory_info().rss
    peak, count = start, len(first)
    for b in gen:
        count += len(b)
        peak = max(peak, proc.memory_info().rss)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 1500
    # all frames at 398x224 would be 400 MB; one batch is 8.6 MB
    assert traced_peak < 60e6, f"numpy memory peaked at {traced_peak / 1e6:.0f} MB"
    assert peak - start < 200e6, f"RSS grew by {(peak - start) / 1e6:.0f} MB"


def test_iter_frames_is_lazy(cfr, monkeypatch):
    from summarizer.decode.indexed import IndexedSource

    calls = []
    real = IndexedSource._run

    def spy(*a, **k):
        calls.append(1)
        yield from real(*a, **k)

    monkeypatch.setattr(IndexedSource, "_run", spy)
    gen = video.iter_frames(cfr, SampleSettings())
    assert calls == []  # nothing decoded until asked
    next(gen)
    assert calls == [1]


# --------------------------------------------------------------------------- read_frames


def test_display_rotation_is_applied(tmp_path, cfr):
    """A phone video stored landscape with a 90 degree display matrix comes out portrait."""
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(cfr), "-c", "copy", str(rotated))
    p = video.probe(rotated)
    assert (p.width, p.height) == (240, 320)
    _, _, images, _ = collect(rotated, SampleSettings(fps=1, short_side=120))
    assert images.shape[1:] == (160, 120, 3)
    full = video.read_frames(rotated, [0]).images[0]
    ref = np.asarray(Image.fromarray(full).resize((120, 160), Image.BILINEAR), dtype=float)
    assert np.abs(ref - images[0]).mean() < 8  # same picture, not squashed or turned


def test_read_frames_order_duplicates_and_size(coded):
    b = video.read_frames(coded, [250, 3, 3, 120])
    assert list(b.indices) == [250, 3, 3, 120]
    assert b.images.shape == (4, 120, 160, 3)  # full size by default
    np.testing.assert_allclose(code_of(b.images), (b.indices * 7) % 200 + 20, atol=2)
    np.testing.assert_allclose(b.times_s, b.indices / 25.0, atol=1e-3)
    small = video.read_frames(coded, [10], short_side=60)
    assert small.images.shape == (1, 60, 80, 3)
    assert len(video.read_frames(coded, []).images) == 0
    with pytest.raises(InputError, match="out of range"):
        video.read_frames(coded, [300])


def test_read_frames_matches_iter_frames(cfr):
    times, idx, images, _ = collect(cfr, SampleSettings(fps=3, short_side=96))
    b = video.read_frames(cfr, idx[::-1], short_side=96)
    np.testing.assert_array_equal(b.images, images[::-1])
    np.testing.assert_allclose(b.times_s, times[::-1])


# --------------------------------------------------------------------------- ffmpeg fallback


CONTAINERS = {  # extension: (ffmpeg output args, which decoder reads it)
    "mp4": (["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p"], "decord"),
    "mov": (["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p"], "decord"),
    "mkv": (["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p"], "decord"),
    "webm": (["-c:v", "libvpx-vp9", "-g", "50", "-b:v", "300k"], "decord"),
    "avi": (["-c:v", "mpeg4", "-q:v", "2", "-g", "50"], "decord"),
    "ts": (["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p"], "pyav"),
    "mpg": (["-c:v", "mpeg2video", "-q:v", "2", "-g", "12"], "pyav"),
    "h264": (["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p"], "pyav"),
    "gif": (["-frames:v", "50"], "pyav"),
}


@pytest.mark.parametrize("fmt", sorted(CONTAINERS))
def test_containers_give_the_right_frames(coded, tmp_path, fmt):
    """Every container gives the frames it says, sparse or dense. decord misreads MPEG-TS
    (wrong frames) and MPEG-PS (wrong seeks) and cannot open raw H.264 or GIF: those go
    through PyAV."""
    args, backend = CONTAINERS[fmt]
    out = tmp_path / f"coded.{fmt}"
    ffmpeg("-i", str(coded), *args, str(out))
    assert video.open_source(out).backend == backend == video.probe(out).backend
    n = 50 if fmt == "gif" else 300
    p = video.probe(out)
    assert p.frame_count == n and (p.width, p.height) == (160, 120)
    assert p.fps == pytest.approx(25.0, rel=0.02)
    for s in (
        SampleSettings(fps=5, short_side=60),
        SampleSettings(fps=0.3, short_side=60),  # far apart: seeks
        SampleSettings(fps=None, keyframes_only=True, short_side=60),
    ):
        times, idx, images, _ = collect(out, s)
        assert images.shape[1:] == (60, 80, 3)
        # MPEG-PS packets carry few times; the decoder's guesses are up to a frame off
        tol = 0.045 if fmt == "mpg" else 1e-3
        if s.fps == 5 and fmt != "mpg":
            np.testing.assert_array_equal(idx, np.arange(0, n, 5))
        np.testing.assert_allclose(times, idx / 25.0, atol=tol)
        if fmt != "gif":  # GIF's palette changes the grey levels
            np.testing.assert_allclose(code_of(images), (idx * 7) % 200 + 20, atol=3)
    b = video.read_frames(out, [n - 1, 7, 0, 7])
    assert list(b.indices) == [n - 1, 7, 0, 7] and b.images.shape == (4, 120, 160, 3)
    if fmt != "gif":
        np.testing.assert_allclose(code_of(b.images), (b.indices * 7) % 200 + 20, atol=3)


def test_transport_stream_decord_cannot_decode(tmp_path):
    """A TS file on which decord fails even at the first frame still gives every frame."""
    out = tmp_path / "clip.ts"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mpegts", str(out),
    )  # fmt: skip
    times, idx, images, _ = collect(out, SampleSettings(fps=None, short_side=120))
    np.testing.assert_array_equal(idx, np.arange(75))
    np.testing.assert_allclose(times, idx / 25.0, atol=1e-3)
    assert images.shape == (75, 120, 160, 3) and images.std() > 10


# --------------------------------------------------------------------------- image folders


def _folder(tmp_path: Path, names, size=(64, 48)) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for k, name in enumerate(names):
        arr = np.full((size[1], size[0], 3), 10 * k + 5, np.uint8)
        Image.fromarray(arr).save(folder / name)
    return folder


def test_image_folder_natural_sort_and_times(tmp_path):
    names = ["img10.png", "img2.png", "img1.jpg", "IMG3.webp", "img20.bmp"]
    folder = _folder(tmp_path, names)
    (folder / "notes.txt").write_text("not an image")
    assert video.is_image_folder(folder) and not video.is_image_folder(tmp_path / "nope")
    times, idx, images, _ = collect(folder, SampleSettings(fps=2, short_side=32))
    order = [
        names.index(n) for n in ["img1.jpg", "img2.png", "IMG3.webp", "img10.png", "img20.bmp"]
    ]
    np.testing.assert_allclose(code_of(images), [10 * k + 5 for k in order], atol=2)
    np.testing.assert_allclose(times, np.arange(5) / 2.0)  # index / fps
    assert images.shape == (5, 32, 42, 3)
    p = video.probe(folder, settings=SampleSettings(fps=2))
    assert (p.frame_count, p.width, p.height, p.fps) == (5, 64, 48, 2.0)
    t2, _, _, _ = collect(folder, SampleSettings(fps=None, every_n=2, short_side=32))
    np.testing.assert_allclose(t2, [0.0, 2.0, 4.0])  # 1 fps without a target rate


def test_image_folder_time_regex(tmp_path):
    names = ["cam_t12.5s.png", "cam_t0.5s.png", "cam_t3s.png", "cam_nodate.png"]
    folder = _folder(tmp_path, names)
    stats = video.DecodeStats()
    s = SampleSettings(fps=None, time_regex=r"_t(\d+(?:\.\d+)?)s", short_side=32)
    with pytest.warns(video.UnreadableImageWarning, match="cam_nodate"):
        batches = list(video.iter_frames(folder, s, stats=stats))
    times = np.concatenate([b.times_s for b in batches])
    np.testing.assert_allclose(times, [0.5, 3.0, 12.5])  # sorted by the time in the name
    assert stats.skipped == 1 and stats.frames == 3
    with pytest.raises(SettingsError, match="not a valid regex"):
        collect(folder, SampleSettings(time_regex="(unclosed"))
    with pytest.raises(SettingsError, match="needs a group"):
        collect(folder, SampleSettings(time_regex=r"\d+"))


def test_image_folder_unreadable_skipped_and_counted(tmp_path):
    folder = _folder(tmp_path, ["a1.png", "a2.png", "a3.png"], size=(80, 40))
    (folder / "a2.png").write_bytes(b"this is not a png")
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(folder / "a4.jpg")  # other size
    stats = video.DecodeStats()
    with pytest.warns(video.UnreadableImageWarning, match="a2.png"):
        batches = list(video.iter_frames(folder, SampleSettings(short_side=20), stats=stats))
    images = np.concatenate([b.images for b in batches])
    assert stats.skipped == 1 and stats.skipped_files == ["a2.png"] and stats.frames == 3
    assert images.shape == (3, 20, 40, 3)  # all frames the size of the first one
    assert list(np.concatenate([b.indices for b in batches])) == [0, 2, 3]
    b = video.read_frames(folder, [3, 0])
    assert b.images.shape == (2, 40, 80, 3)


def test_image_folder_bad(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no images"):
        video.probe(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="no readable image"):
            collect(broken, SampleSettings())


# --------------------------------------------------------------------------- bad inputs


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, cfr) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    out = {}
    out["text"] = d / "notes.mp4"
    out["text"].write_text("hello, I am not a video\n" * 20)
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    data = cfr.read_bytes()
    out["truncated"] = d / "truncated.mp4"  # moov at the end: cut before it
    out["truncated"].write_bytes(data[: len(data) // 2])
    fast = d / "faststart.mp4"
    ffmpeg("-i", str(cfr), "-c", "copy", "-movflags", "+faststart", str(fast))
    out["truncated_faststart"] = d / "truncated_fs.mp4"  # index first, frames cut off
    out["truncated_faststart"].write_bytes(fast.read_bytes()[: len(fast.read_bytes()) // 2])
    out["audio"] = d / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(out["audio"]))
    out["zero"] = d / "zero.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=1", "-t", "0",
        "-c:v", "libx264", str(out["zero"]),
    )  # fmt: skip
    out["zero_mkv"] = d / "zero.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=1", "-frames:v", "0",
        str(out["zero_mkv"]),
    )  # fmt: skip
    out["image"] = d / "still.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(out["image"])
    return out


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", "cannot be read: not a video"),
        ("empty", "empty file"),
        ("truncated", "truncated"),
        ("audio", "no video stream"),
        ("zero", "no video stream|no frames"),
        ("zero_mkv", "no video stream|no frames"),
        ("image", "single image"),
    ],
)
def test_bad_inputs_raise_one_clear_error(bad_files, kind, message):
    path = bad_files[kind]
    with pytest.raises(InputError, match=message) as info:
        collect(path, SampleSettings())
    text = str(info.value)
    assert "\n" not in text and path.name in text and len(text) < 300
    with pytest.raises(InputError, match=message):
        video.probe(path)


def test_truncated_faststart_gives_what_it_has_and_says_so(bad_files):
    """An MP4 with its index first, cut in half (an interrupted download): the frames that are
    there, and a warning saying what is missing; never presented as complete (issue 15)."""
    path = bad_files["truncated_faststart"]
    p = video.probe(path)
    assert p.frame_count < 100 and p.duration_s < 4.0 - 1.0  # the readable part
    assert p.missing_s == pytest.approx(4.0 - p.duration_s, abs=0.1)
    stats = video.DecodeStats()
    with pytest.warns(video.TruncatedVideoWarning, match=r"truncated.*4\.00 s.*missing") as rec:
        batches = list(video.iter_frames(path, SampleSettings(fps=5, short_side=60), stats=stats))
    times = np.concatenate([b.times_s for b in batches])
    assert len(times) > 0 and times[-1] < p.duration_s
    assert stats.missing_s == p.missing_s
    assert path.name in str(rec[0].message)


def test_missing_path():
    with pytest.raises(InputError, match="not found"):
        video.probe("/no/such/video.mp4")
    with pytest.raises(InputError, match="not found"):
        collect("/no/such/video.mp4", SampleSettings())
    with pytest.raises(InputError, match="not found"):
        video.read_frames("/no/such/video.mp4", [0])


def test_sizes_from_settings_are_bounded():
    """fps 1e9 on a 3 s video is a clear error, not 24 GB of targets (issue 15); a rate far
    above the source's gives each frame once without listing the targets; batches of huge
    frames are capped by bytes, whatever batch_frames says."""
    times = np.arange(75) / 25.0
    with pytest.raises(SettingsError, match=r"fps 1e\+09 asks for 3e\+09 frames"):
        video.select_indices(times, SampleSettings(fps=1e9))
    np.testing.assert_array_equal(
        video.select_indices(times, SampleSettings(fps=1e6)), np.arange(75)
    )
    rng = np.random.default_rng(3)
    for _ in range(50):  # the shortcut agrees with the target-by-target answer
        t = np.cumsum(rng.uniform(0.01, 0.3, 40))
        t -= t[0]
        fps = float(rng.uniform(0.5, 300))
        s = SampleSettings(fps=fps)
        count = int(np.ceil((t[-1] + np.median(np.diff(t))) * fps))
        targets = np.arange(count) / fps
        pos = np.searchsorted(t, targets)
        left, right = np.clip(pos - 1, 0, 39), np.clip(pos, 0, 39)
        near = np.where(np.abs(t[left] - targets) <= np.abs(t[right] - targets), left, right)
        np.testing.assert_array_equal(video.select_indices(t, s), np.unique(near))
    from summarizer.decode.source import batch_cap

    assert batch_cap(10**9, (7680, 4320)) == 2 and batch_cap(64, (398, 224)) == 64
