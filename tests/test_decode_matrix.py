"""The decode matrix: every kind of real-world file against FFmpeg's own decode of it.

Each clip (about 2 s, 160x120, made here by the FFmpeg binary of imageio-ffmpeg) is read
frame by frame through `summarizer.decode` and by the ``ffmpeg`` command line (autorotation
on, scaled to the display size, deinterlaced when interlaced). For each: the frame count is
within one frame of FFmpeg's, the times (from the first frame) within one frame, the frames
at a few times equal FFmpeg's (PSNR >= 35 dB at thumbnail size), and no traceback.
"""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from summarizer import decode
from summarizer.config import SampleSettings
from summarizer.errors import InputError

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
# testsrc2, softened a little: real footage has no saturated one-pixel edges, on which two
# scalers (ours and FFmpeg's) differ more than any decoding difference would show.
SRC = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2,gblur=sigma=0.8"]
H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-bf", "2"]
THUMB = 32  # short side the frames are compared at (the store keeps 128; smaller is stricter on timing, kinder to scalers)

CLIPS: dict[str, tuple[str, list[str], str | None]] = {
    # name: (extension, ffmpeg arguments after the source, encoder that must exist)
    "mp4_h264_cfr": ("mp4", H264, "libx264"),
    "mp4_h264_vfr": (
        "mp4",
        ["-vf", "select='not(mod(n,3))+between(t,0.8,1.2)'", "-fps_mode", "vfr", *H264],
        "libx264",
    ),
    "mkv_hevc_10bit": (
        "mkv",
        ["-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=none"],
        "libx265",
    ),
    "mkv_vp9": ("mkv", ["-c:v", "libvpx-vp9", "-b:v", "400k", "-cpu-used", "8"], "libvpx-vp9"),
    "mkv_av1": ("mkv", ["-c:v", "libsvtav1", "-preset", "12"], "libsvtav1"),
    "webm_vp8": ("webm", ["-c:v", "libvpx", "-b:v", "400k", "-cpu-used", "8"], "libvpx"),
    "mov_prores": ("mov", ["-c:v", "prores_ks", "-profile:v", "0"], "prores_ks"),
    "mov_mjpeg": ("mov", ["-c:v", "mjpeg", "-q:v", "2"], "mjpeg"),
    # libxvid writes B-frames "packed" as DivX/XVID writers do: decord invents their times
    "avi_xvid_packed_bframes": (
        "avi",
        ["-c:v", "libxvid", "-bf", "2", "-q:v", "3", "-vtag", "XVID"],
        "libxvid",
    ),
    "avi_mpeg4_bframes": ("avi", ["-c:v", "mpeg4", "-bf", "2", "-q:v", "3"], "mpeg4"),
    "avi_msmpeg4": ("avi", ["-c:v", "msmpeg4", "-q:v", "3"], "msmpeg4"),
    "avi_cinepak": ("avi", ["-c:v", "cinepak"], "cinepak"),
    "ts_h264": ("ts", [*H264, "-f", "mpegts"], "libx264"),
    "ps_mpeg2": ("mpg", ["-c:v", "mpeg2video", "-q:v", "3", "-bf", "2", "-f", "mpeg"], None),
    "flv": ("flv", ["-c:v", "flv", "-q:v", "3"], "flv"),
    "gif": ("gif", [], "gif"),
    "odd_size_161x121": (
        "mp4",
        ["-vf", "scale=161:121", "-c:v", "libx264", "-pix_fmt", "yuv444p"],
        "libx264",
    ),
    "anamorphic_sar_4_3": ("mp4", ["-vf", "setsar=4/3", *H264], "libx264"),
    "interlaced_tff": (
        "mp4",
        [
            "-vf",
            "tinterlace=mode=interleave_top,setfield=tff",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-flags",
            "+ildct+ilme",
            "-x264-params",
            "tff=1",
        ],
        "libx264",
    ),  # fmt: skip
    "tiny_16x16": ("mp4", ["-vf", "scale=16:16,setsar=1", *H264], "libx264"),
    "tiny_16x224": ("mp4", ["-vf", "scale=16:224,setsar=1", *H264], "libx264"),
    "tiny_8x8": ("mp4", ["-vf", "scale=8:8,setsar=1", *H264], "libx264"),
}


def run_ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-y", *args], capture_output=True, check=False
    )


def encoders() -> str:
    return run_ffmpeg("-encoders").stdout.decode(errors="replace")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("matrix")
    have = encoders()
    out: dict[str, Path] = {}
    for name, (ext, args, enc) in CLIPS.items():
        if enc is not None and not re.search(rf"\s{re.escape(enc)}\s", have):
            continue
        src = SRC
        if name == "interlaced_tff":  # 50 fields per second, woven into 25 frames
            src = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=50:duration=2,gblur=sigma=0.8"]
        path = d / f"{name}.{ext}"
        if run_ffmpeg("-loglevel", "error", *src, *args, str(path)).returncode == 0:
            out[name] = path
    base = out.get("mp4_h264_cfr")
    if base is not None:
        for deg in (90, 180, 270):
            rot = d / f"rotated_{deg}.mp4"
            run_ffmpeg("-loglevel", "error", "-display_rotation", str(deg), "-i", str(base),
                       "-c", "copy", str(rot))  # fmt: skip
            out[f"rotated_{deg}"] = rot
    return out


def ffmpeg_decode(path: Path, size: tuple[int, int], deinterlace: bool):
    """FFmpeg's own decode: every frame, its time (from the first), RGB at `size`."""
    w, h = size
    chain = ("bwdif=mode=send_frame:deint=interlaced," if deinterlace else "") + (
        f"scale={w}:{h}:flags=bicubic,showinfo"
    )
    proc = run_ffmpeg("-i", str(path), "-map", "0:v:0", "-vf", chain, "-fps_mode", "passthrough",
                      "-f", "rawvideo", "-pix_fmt", "rgb24", "-")  # fmt: skip
    err = proc.stderr.decode(errors="replace")
    times = [float(t) for t in re.findall(r"Parsed_showinfo.*?\bpts_time:\s*(-?[\d.e+-]+)", err)]
    frames = np.frombuffer(proc.stdout, np.uint8)
    frames = frames[: len(frames) // (w * h * 3) * (w * h * 3)].reshape(-1, h, w, 3)
    t = np.asarray(times[: len(frames)], dtype=np.float64)
    return t - t[0], frames


def thumb(img: np.ndarray) -> np.ndarray:
    """`img` with its short side scaled to THUMB (area average), as the store's thumbnails."""
    from PIL import Image

    w, h = decode.target_size(img.shape[1], img.shape[0], THUMB)
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BOX))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


NAMES = [*CLIPS, "rotated_90", "rotated_180", "rotated_270"]


@pytest.mark.parametrize("name", NAMES)
def test_clip_decodes_like_ffmpeg(clips, name):
    if name not in clips:
        pytest.skip(f"this FFmpeg cannot write {name} (encoder missing)")
    check_like_ffmpeg(clips[name], name)


MEGAMIND = Path(__file__).parent / "data" / "Megamind.avi"


def test_real_file_megamind():
    """OpenCV's sample (packed XVID in AVI): decord says fps 7e-16; read right through PyAV."""
    p = decode.probe(MEGAMIND)
    assert (p.frame_count, p.width, p.height, p.backend) == (270, 720, 528, "pyav")
    assert p.fps == pytest.approx(23.976, rel=1e-3) and p.duration_s == pytest.approx(
        11.26, abs=0.05
    )
    check_like_ffmpeg(MEGAMIND, "megamind", short_side=128)
    got = list(decode.iter_frames(MEGAMIND, SampleSettings(fps=2)))
    times = np.concatenate([b.times_s for b in got])
    assert len(times) == 23 and np.all(np.abs(times - np.arange(23) * 0.5) <= 0.5 / 23.976 + 1e-3)


def check_like_ffmpeg(path: Path, name: str, short_side: int = 4096) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", decode.DecodeWarning)  # a clean file warns of nothing
        p = decode.probe(path)
        batches = list(decode.iter_frames(path, SampleSettings(fps=None, short_side=short_side)))
    times = np.concatenate([b.times_s for b in batches])
    idx = np.concatenate([b.indices for b in batches])
    images = np.concatenate([b.images for b in batches])
    h, w = images.shape[1:3]
    assert (w, h) == decode.target_size(p.width, p.height, short_side)
    ref_t, ref = ffmpeg_decode(path, (w, h), p.interlaced)
    step = 1.0 / p.fps
    assert abs(len(times) - len(ref_t)) <= 1, (len(times), len(ref_t), p)
    assert p.frame_count == len(times)
    np.testing.assert_array_equal(idx, np.arange(len(idx)))
    # times within a frame of FFmpeg's, matched by order
    m = min(len(times), len(ref_t))
    assert np.max(np.abs(times[:m] - ref_t[:m])) <= step + 1e-3
    # the same pictures, compared at thumbnail size (both scaled alike)
    for i in np.linspace(0, m - 1, 5).astype(int):
        j = int(np.argmin(np.abs(ref_t - times[i])))
        db = psnr(thumb(images[i]), thumb(ref[j]))
        assert db >= 35.0, (name, i, db)
        for jj in (j - 1, j + 1):  # and it is that frame, not a neighbour
            if 0 <= jj < len(ref):
                assert db >= psnr(thumb(images[i]), thumb(ref[jj])), (name, i, jj)
    # a sparse sample (seeks) gives the same frames as the dense one
    with warnings.catch_warnings():
        warnings.simplefilter("error", decode.DecodeWarning)
        sparse = list(decode.iter_frames(path, SampleSettings(fps=1.5, short_side=short_side)))
    s_idx = np.concatenate([b.indices for b in sparse])
    s_img = np.concatenate([b.images for b in sparse])
    for k, im in zip(s_idx, s_img, strict=True):
        assert psnr(im, images[int(k)]) >= 40, (name, k)


def test_display_geometry(clips):
    """Rotation side data turns the picture, the sample aspect ratio widens it."""
    if "anamorphic_sar_4_3" in clips:
        p = decode.probe(clips["anamorphic_sar_4_3"])
        assert (p.width, p.height, p.sample_aspect) == (213, 120, pytest.approx(4 / 3))
    for deg in (90, 270):
        if f"rotated_{deg}" in clips:
            p = decode.probe(clips[f"rotated_{deg}"])
            assert (p.width, p.height) == (120, 160)
    for name, size in (("tiny_16x16", (16, 16)), ("tiny_16x224", (16, 224)), ("tiny_8x8", (8, 8))):
        if name in clips:
            b = decode.read_frames(clips[name], [0, 3])
            assert b.images.shape == (2, size[1], size[0], 3)
    if "interlaced_tff" in clips:
        assert decode.probe(clips["interlaced_tff"]).interlaced


def test_backends_chosen(clips):
    """decord where its figures check out, PyAV where decord is known to go wrong."""
    expect = {
        "mp4_h264_cfr": "decord",
        "mkv_vp9": "decord",
        "avi_xvid_packed_bframes": "pyav",
        "avi_mpeg4_bframes": "pyav",
        "ts_h264": "pyav",
        "ps_mpeg2": "pyav",
        "gif": "pyav",
        "flv": "pyav",
        "interlaced_tff": "pyav",
        "mkv_hevc_10bit": "pyav",  # decord's 10-to-8-bit conversion is 34.5 dB from FFmpeg's
        "anamorphic_sar_4_3": "pyav",  # and so is its stretch to the display size
    }
    for name, backend in expect.items():
        if name in clips:
            assert decode.probe(clips[name]).backend == backend, name


@pytest.mark.parametrize(
    "name, cut",
    [("mp4_h264_cfr", (0.40, 0.60)), ("ts_h264", (0.45, 0.52))],
    ids=["mp4-decord-fails-pyav-goes-on", "ts-pyav"],
)
def test_corrupt_middle_goes_on_and_says_where(clips, tmp_path, name, cut):
    """Random bytes over the middle of the file: the frames before and after come out (about
    as many as FFmpeg gets), and the damaged span is a warning with its times."""
    base = clips.get(name)
    if base is None:
        pytest.skip("no libx264")
    data = bytearray(base.read_bytes())
    rng = np.random.default_rng(0)
    a, b = int(len(data) * cut[0]), int(len(data) * cut[1])
    data[a:b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    bad = tmp_path / f"corrupt{base.suffix}"
    bad.write_bytes(bytes(data))
    stats = decode.DecodeStats()
    with pytest.warns(decode.DamagedFramesWarning, match=r"corrupt\.\w+: .* from \d+\.\d\d s to"):
        batches = list(
            decode.iter_frames(bad, SampleSettings(fps=None, short_side=THUMB), stats=stats)
        )
    times = np.concatenate([x.times_s for x in batches])
    assert stats.damaged_spans and all(0.3 < s < e <= 2.0 for s, e in stats.damaged_spans)
    assert sum(e - s for s, e in stats.damaged_spans) < 1.2  # the damage, not the whole file
    ref_t, _ = ffmpeg_decode(bad, (8, 6), False)
    assert abs(len(times) - len(ref_t)) <= 3 and times[0] < 0.3 and times[-1] > 1.5
    # sparse sampling and read_frames go on too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", decode.DamagedFramesWarning)
        sparse = list(decode.iter_frames(bad, SampleSettings(fps=4, short_side=THUMB)))
        assert sum(len(x) for x in sparse) >= 5
        got = decode.read_frames(bad, [0, 25, len(times) - 1], short_side=THUMB)
        assert got.images.shape[0] == 3


def test_audio_only_and_empty_stream_are_one_line(tmp_path):
    audio = tmp_path / "voice.m4a"
    run_ffmpeg("-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
               str(audio))  # fmt: skip
    with pytest.raises(InputError, match="voice.m4a has no video stream") as info:
        decode.probe(audio)
    assert "\n" not in str(info.value)


def test_absurd_fps_is_a_clear_error(clips):
    from summarizer.errors import SettingsError

    path = clips.get("mp4_h264_cfr") or next(iter(clips.values()))
    with pytest.raises(SettingsError, match="fps 1e\\+09 asks for"):
        list(decode.iter_frames(path, SampleSettings(fps=1e9)))
    # far above the source rate but bounded: every frame once
    got = list(decode.iter_frames(path, SampleSettings(fps=1e5, short_side=THUMB)))
    assert sum(len(b) for b in got) == decode.probe(path).frame_count


SEAM_SHOTS = [
    (3.24, "static", 701),
    (4.12, "pan", 702),
    (3.68, "motion", 703),
    (3.2, "static", 704),
]
SEAM_FORMATS = {  # the same content in the containers that go through other paths
    "mkv_vp9": ("mkv", ["-c:v", "libvpx-vp9", "-b:v", "600k", "-cpu-used", "8"]),
    "avi_xvid_packed_bframes": ("avi", ["-c:v", "libxvid", "-bf", "2", "-q:v", "3"]),
    "ts_h264": ("ts", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mpegts"]),
    "ps_mpeg2": ("mpg", ["-c:v", "mpeg2video", "-q:v", "3", "-f", "mpeg"]),
    "flv": ("flv", ["-c:v", "flv", "-q:v", "3"]),
    "mov_mjpeg": ("mov", ["-c:v", "mjpeg", "-q:v", "3"]),
}


@pytest.fixture(scope="module")
def seam_videos(tmp_path_factory) -> dict[str, Path]:
    from summarizer.synth import Shot, make_video

    d = tmp_path_factory.mktemp("seams")
    base = d / "cuts.mp4"
    make_video(base, [Shot(k, t, seed=s) for t, k, s in SEAM_SHOTS], fps=25.0, size=(160, 120))
    out = {"mp4_h264": base}
    for name, (ext, args) in SEAM_FORMATS.items():
        path = d / f"cuts_{name}.{ext}"
        if run_ffmpeg("-loglevel", "error", "-i", str(base), *args, str(path)).returncode == 0:
            out[name] = path
    return out


@pytest.mark.parametrize("name", list(SEAM_FORMATS))
def test_seams_equal_those_of_the_mp4(seam_videos, tmp_path, name):
    """The whole flow (decode, pixels embedding, seams, frame-exact refine) finds the same
    seams in every container as in the MP4 H.264 of the same content (issue 11)."""
    from summarizer.config import EmbedSettings
    from summarizer.flow import embed_video, find_scenes, open_video
    from summarizer.scenes.seams import SeamSettings
    from summarizer.store import Store

    if name not in seam_videos:
        pytest.skip(f"this FFmpeg cannot write {name}")
    store = Store(tmp_path / "store")
    sample, embed = SampleSettings(), EmbedSettings(embedder="pixels")

    def seams(path: Path) -> np.ndarray:
        ev = embed_video(open_video(path, store, sample), sample, embed, store)
        return np.asarray(find_scenes(ev, SeamSettings()).seams_s, dtype=float)

    want = seams(seam_videos["mp4_h264"])
    got = seams(seam_videos[name])
    assert len(want) >= 3 and len(got) == len(want), (want, got)
    np.testing.assert_allclose(got, want, atol=1.0 / 25 + 1e-3)


@pytest.mark.parametrize("name", ["mp4_h264", "ts_h264"])
def test_corrupt_middle_of_a_shot_invents_no_seam(seam_videos, tmp_path, name):
    """Random bytes in the middle of a shot: the full-rate signal reports the damaged span
    (a warning with times, and in `stats`), and neither the content detector nor the whole
    flow puts a seam there; the real cuts are still found (issue 11, broken files)."""
    from summarizer.config import EmbedSettings
    from summarizer.decode.signal import scan
    from summarizer.flow import embed_video, find_scenes, open_video
    from summarizer.scenes.detectors.content import content_transitions
    from summarizer.scenes.seams import SeamSettings
    from summarizer.store import Store

    if name not in seam_videos:
        pytest.skip(f"this FFmpeg cannot write {name}")
    clean = seam_videos[name]
    data = bytearray(clean.read_bytes())
    # the middle of the second shot (3.24 s to 7.36 s of 14.24 s), about 0.3 s of data
    a, b = int(len(data) * 0.36), int(len(data) * 0.38)
    data[a:b] = np.random.default_rng(1).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    bad = tmp_path / f"broken{clean.suffix}"
    bad.write_bytes(bytes(data))
    settings = SeamSettings()
    stats = decode.DecodeStats()
    with pytest.warns(decode.DamagedFramesWarning, match=r"broken\.\w+: .* from \d+\.\d\d s to"):
        sig = scan(bad, stats=stats)
    assert stats.damaged_spans and all(3.3 < s < e < 7.3 for s, e in stats.damaged_spans)

    def cuts(s) -> np.ndarray:
        tr = content_transitions(s, settings.cut_min, settings.cut_ratio, settings.dissolve_min)
        return np.asarray([x.time_s for x in tr])

    want = cuts(scan(clean))
    assert len(want) == 3
    np.testing.assert_allclose(cuts(sig), want, atol=1.0 / 25 + 1e-3)
    store = Store(tmp_path / "store")
    sample, embed = SampleSettings(), EmbedSettings(embedder="pixels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", decode.DamagedFramesWarning)
        ev = embed_video(open_video(bad, store, sample), sample, embed, store)
        got = np.asarray(find_scenes(ev, settings).seams_s, dtype=float)
    np.testing.assert_allclose(got, want, atol=1.0 / 25 + 1e-3)


SIGNAL_CLIPS = [
    "mp4_h264_cfr",
    "mp4_h264_vfr",
    "mp4_start_offset",
    "avi_xvid_packed_bframes",
    "ts_h264",
    "ps_mpeg2",
    "gif",
    "interlaced_tff",
    "rotated_90",
]


@pytest.mark.parametrize("name", SIGNAL_CLIPS)
def test_signal_frames_are_the_sampled_frames(clips, tmp_path, name):
    """The full-rate signal (`decode.signal.scan`) numbers, orders and times every frame as
    the sampled frames do, whatever the backend (decord's index read by PyAV), container
    (TS/PS start after 0 s, packed B-frames in AVI) or time origin (an MP4 whose stream
    starts at 1 s, which decord counts from 0): its n-th frame is the sampled frame n."""
    from PIL import Image

    from summarizer.decode.signal import SIZE, scan

    if name == "mp4_start_offset" and "mp4_h264_cfr" in clips:
        path = tmp_path / "offset.mp4"
        run_ffmpeg("-loglevel", "error", "-i", str(clips["mp4_h264_cfr"]), "-c", "copy",
                   "-output_ts_offset", "1.0", str(path))  # fmt: skip
    elif name in clips:
        path = clips[name]
    else:
        pytest.skip(f"this FFmpeg cannot write {name}")
    tiny: list[np.ndarray] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", decode.DecodeWarning)  # a clean file warns of nothing
        sig = scan(path, on_frames=lambda t, f: tiny.append(f))
        dense = list(decode.iter_frames(path, SampleSettings(fps=None, short_side=4096)))
    times = np.concatenate([b.times_s for b in dense])
    np.testing.assert_array_equal(sig.times_s, times)
    assert len(sig) == decode.probe(path).frame_count
    small = np.concatenate(tiny)
    images = np.concatenate([b.images for b in dense])
    ref = np.stack([np.asarray(Image.fromarray(im).resize(SIZE, Image.BOX)) for im in images])
    for k in np.linspace(1, len(ref) - 2, 6).astype(int):
        db = psnr(small[k], ref[k])
        assert db >= 25 and db > max(psnr(small[k], ref[k - 1]), psnr(small[k], ref[k + 1])), (
            name,
            k,
            db,
        )
