"""Writing results people download: JSON, CSV, JPEG keyframes and labelled contact sheets."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp file beside `path` to write to; renamed onto `path` (mode 0644) on success,
    removed on failure, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files owner-only; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def json_default(obj: Any) -> Any:
    """`json.dumps(default=...)` for results: numpy scalars and arrays, paths, dataclasses."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def to_json(obj: Any) -> str:
    """JSON text of results holding numpy scalars / arrays and paths."""
    return json.dumps(obj, indent=2, default=json_default)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as indented JSON, atomically."""
    return _atomic_write(Path(path), to_json(obj).encode())


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text with a header from the keys of the first row."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write rows (dicts with the same keys) as CSV, atomically."""
    return _atomic_write(Path(path), csv_text(rows).encode())


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def save_bytes(data: bytes, path: str | Path) -> Path:
    """Write encoded `data` (a JPEG made before) to `path`, atomically."""
    return _atomic_write(Path(path), data)


def save_jpeg(image: np.ndarray, path: str | Path, quality: int = 90) -> Path:
    """Save a uint8 (H, W, 3) RGB frame as JPEG, atomically."""
    return _atomic_write(Path(path), jpeg_bytes(image, quality))


FAST_PNG = 1  # zlib level for big PNG contact sheets: half the time of the default 6, ~8 % bigger


def save_image(image: Image.Image, path: str | Path, **options: Any) -> Path:
    """Save a PIL image (format from the suffix; `options` for its writer, such as
    ``compress_level``), atomically: two writers of one folder never leave a mixed file."""
    path = Path(path)
    buf = io.BytesIO()
    image.save(buf, format=Image.registered_extensions()[path.suffix.lower()], **options)
    return _atomic_write(path, buf.getvalue())


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 segment', '2 segments', '1,204 frames' (`many` for irregular plurals)."""
    n = int(n)
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def time_label(seconds: float) -> str:
    """'m:ss.s' (or 'h:mm:ss.s' past an hour) for frame captions."""
    seconds = max(0.0, float(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{int(h)}:{int(m):02d}:{s:04.1f}"
    return f"{int(m)}:{s:04.1f}"


def time_name(seconds: float) -> str:
    """File-name friendly time, sorting in time order: '000012.500'."""
    return f"{max(0.0, float(seconds)):010.3f}"


STEM_BYTES = 120  # a folder name well inside the 255-byte limit of file systems


def video_stem(name: str) -> str:
    """A safe folder name from a video's file name: letters of any script, digits, ``._-``
    (``my clip.mp4`` -> ``my_clip``, ``日本.mp4`` -> ``日本``).

    A name that lost non-ASCII characters (emoji, symbols), lost everything, or was too long
    gets a short hash of the original, so such names never share a folder
    (``🎬.mp4`` -> ``video-0de8a5``, ``🚲 trip.mp4`` and ``🎬 trip.mp4`` differ).
    """
    stem = Path(name).stem
    dropped = re.findall(r"[^\w.-]", stem)
    safe = re.sub(r"[^\w.-]+", "_", stem).strip("._-")
    short = safe
    while len(short.encode()) > STEM_BYTES:
        short = short[:-1]
    if short and short == safe and all(c.isascii() for c in dropped):
        return safe
    tag = hashlib.sha256(stem.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"{short.rstrip('._-') or 'video'}-{tag}"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


GRID_CELL_H = 180  # height of a contact sheet's cells


def grid_tile(image: np.ndarray, cell_h: int = GRID_CELL_H) -> np.ndarray:
    """`image` as `grid_image` scales it into a cell `cell_h` high (keep this, not the full
    frame, until the sheet is made: the same sheet from a fraction of the memory)."""
    tile = Image.fromarray(np.asarray(image, dtype=np.uint8))
    tile.thumbnail((tile.width * cell_h, cell_h), Image.LANCZOS)
    return np.asarray(tile)


def grid_tile_jpeg(data: bytes, cell_h: int = GRID_CELL_H) -> np.ndarray:
    """`grid_tile` of an encoded JPEG frame, decoded straight at (about) the cell's size
    (JPEG's own DCT scaling: no full-size decode, no full-size resize)."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (max(1, im.width * cell_h // im.height), cell_h))
        tile = im.convert("RGB")
    tile.thumbnail((tile.width * cell_h, cell_h), Image.LANCZOS)
    return np.asarray(tile)


def grid_image(
    images: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    cols: int | None = None,
    cell_h: int = GRID_CELL_H,
    pad: int = 6,
    background: tuple[int, int, int] = (24, 24, 28),
) -> Image.Image:
    """A contact sheet: frames scaled to `cell_h` high in a grid, each with an optional caption."""
    n = len(images)
    if n == 0:
        return Image.new("RGB", (cell_h, cell_h), background)
    cols = cols or min(n, max(1, int(np.ceil(np.sqrt(n * 1.5)))))
    rows = int(np.ceil(n / cols))
    aspect = max(np.asarray(im).shape[1] / np.asarray(im).shape[0] for im in images)
    cell_w = int(round(cell_h * aspect))
    label_h = max(14, cell_h // 9) + 4 if labels else 0
    sheet = Image.new(
        "RGB", (cols * (cell_w + pad) + pad, rows * (cell_h + label_h + pad) + pad), background
    )
    draw = ImageDraw.Draw(sheet)
    font = _font(max(12, cell_h // 9))
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        tile = Image.fromarray(np.asarray(im, dtype=np.uint8))
        tile.thumbnail((cell_w, cell_h), Image.LANCZOS)
        x = pad + c * (cell_w + pad) + (cell_w - tile.width) // 2
        y = pad + r * (cell_h + label_h + pad)
        sheet.paste(tile, (x, y + (cell_h - tile.height) // 2))
        if labels:
            draw.text(
                (pad + c * (cell_w + pad) + 2, y + cell_h + 2),
                labels[i],
                fill=(230, 230, 230),
                font=font,
            )
    return sheet
