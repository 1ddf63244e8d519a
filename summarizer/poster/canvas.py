"""A poster canvas kept on disk, written tile by tile and encoded band by band.

A 1000-megapixel poster is 3 GB of RGB: held in memory (a PIL image) it, plus the encoder's
copy, took 3.7 GB. Here the tiles go to a file (next to the output, deleted after) as they are
made, and the PNG or PDF is encoded from bands of at most `BAND_BYTES` assembled from them,
streamed through zlib. Memory stays at one band +
one tile whatever the print size. PNG is lossless; the PDF holds one JPEG image per band (Flate
beyond JPEG's 65535 px width), drawn one below the other on one page of the print size.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

BAND_BYTES = 32 * 2**20  # raw RGB bytes encoded at once
IDAT_BYTES = 2**20  # PNG data chunk size
JPEG_QUALITY = 92
JPEG_MAX_SIDE = 65500  # JPEG holds at most 65535 px a side


class DiskCanvas:
    """An RGB canvas of ``width x height`` on `background`, its tiles kept in a file.

    `paste` appends a tile's bytes to the file (one sequential write); `bands` assembles the
    canvas from the top, `BAND_BYTES` of lines at a time, reading from each tile only the
    lines inside the band (one positioned read per tile and band).
    """

    def __init__(self, path: Path, width: int, height: int, background: tuple[int, int, int]):
        self.path, self.width, self.height = Path(path), int(width), int(height)
        self.background = np.asarray(background, np.uint8)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._end = 0
        self._tiles: list[tuple[int, int, int, int, int]] = []  # x0, y0, w, h, offset

    def band_rows(self) -> int:
        return max(1, BAND_BYTES // (self.width * 3))

    def paste(self, tile: np.ndarray, x0: int, y0: int) -> None:
        """Place `tile` (h, w, 3) uint8 with its top-left corner at (x0, y0)."""
        t = np.ascontiguousarray(tile, dtype=np.uint8)
        h, w = t.shape[:2]
        if x0 < 0 or y0 < 0 or x0 + w > self.width or y0 + h > self.height:
            raise ValueError(f"tile {w} x {h} at ({x0}, {y0}) is outside the canvas")
        data = t.tobytes()
        os.pwrite(self.fd, data, self._end)
        self._tiles.append((x0, y0, w, h, self._end))
        self._end += len(data)

    def bands(self):
        """Yield (y0, band (rows, width, 3) uint8) from top to bottom."""
        rows = self.band_rows()
        tiles = np.array(self._tiles, dtype=np.int64).reshape(-1, 5)
        top, bottom = tiles[:, 1], tiles[:, 1] + tiles[:, 3]
        for y in range(0, self.height, rows):
            n = min(rows, self.height - y)
            band = np.empty((n, self.width, 3), np.uint8)
            band[:] = self.background
            for x0, y0, w, h, off in tiles[(top < y + n) & (bottom > y)].tolist():
                a, b = max(y, y0), min(y + n, y0 + h)
                data = os.pread(self.fd, (b - a) * w * 3, off + (a - y0) * w * 3)
                band[a - y : b - y, x0 : x0 + w] = np.frombuffer(data, np.uint8).reshape(-1, w, 3)
            yield y, band

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> DiskCanvas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _chunk(fh: BinaryIO, kind: bytes, data: bytes) -> None:
    fh.write(struct.pack(">I", len(data)) + kind + data)
    fh.write(struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(canvas: DiskCanvas, fh: BinaryIO, dpi: float, level: int = 1) -> None:
    """Encode the canvas as an 8-bit RGB PNG (no filter, zlib `level`), with its dpi."""
    fh.write(b"\x89PNG\r\n\x1a\n")
    _chunk(fh, b"IHDR", struct.pack(">IIBBBBB", canvas.width, canvas.height, 8, 2, 0, 0, 0))
    ppm = int(round(dpi / 0.0254))
    _chunk(fh, b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    comp = zlib.compressobj(level)
    pending = b""
    for _, band in canvas.bands():
        raw = np.zeros((len(band), canvas.width * 3 + 1), np.uint8)  # filter byte 0 per line
        raw[:, 1:] = band.reshape(len(band), -1)
        pending += comp.compress(raw.tobytes())
        while len(pending) >= IDAT_BYTES:
            _chunk(fh, b"IDAT", pending[:IDAT_BYTES])
            pending = pending[IDAT_BYTES:]
    pending += comp.flush()
    if pending:
        _chunk(fh, b"IDAT", pending)
    _chunk(fh, b"IEND", b"")


def _pdf_image(band: np.ndarray, level: int) -> tuple[bytes, str]:
    """One band as PDF image data: JPEG (quality `JPEG_QUALITY`, as a PDF of photos usually
    is) when JPEG can hold its width, else lossless Flate."""
    if band.shape[1] <= JPEG_MAX_SIDE:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(band).save(buf, "JPEG", quality=JPEG_QUALITY)
        return buf.getvalue(), "DCTDecode"
    return zlib.compress(band.tobytes(), level), "FlateDecode"


def write_pdf(canvas: DiskCanvas, fh: BinaryIO, dpi: float, level: int = 6) -> None:
    """Encode the canvas as a one-page PDF of the print size (``pixels / dpi`` inches): one
    image per band (JPEG, or Flate beyond JPEG's width limit), stacked from the top."""
    offsets: list[int] = []

    def obj(body: bytes) -> None:
        offsets.append(fh.tell())
        fh.write(f"{len(offsets)} 0 obj\n".encode() + body + b"\nendobj\n")

    pt = 72.0 / dpi
    w_pt, h_pt = canvas.width * pt, canvas.height * pt
    bands = list(range(0, canvas.height, canvas.band_rows()))
    n = len(bands)
    # objects: 1 catalog, 2 pages, 3 page, 4 contents, 5.. one image per band
    fh.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    obj(b"<< /Type /Catalog /Pages 2 0 R >>")
    obj(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    xobjects = " ".join(f"/Im{i} {5 + i} 0 R" for i in range(n))
    obj(
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.4f} {h_pt:.4f}] "
        f"/Resources << /XObject << {xobjects} >> >> /Contents 4 0 R >>".encode()
    )
    ops = []
    for i, y in enumerate(bands):
        rows = min(canvas.band_rows(), canvas.height - y)
        bottom = h_pt - (y + rows) * pt
        ops.append(f"q {w_pt:.4f} 0 0 {rows * pt:.4f} 0 {bottom:.4f} cm /Im{i} Do Q")
    content = zlib.compress("\n".join(ops).encode())
    obj(
        f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode()
        + content
        + b"\nendstream"
    )
    for _, band in canvas.bands():
        data, filt = _pdf_image(band, level)
        obj(
            f"<< /Type /XObject /Subtype /Image /Width {canvas.width} /Height {len(band)} "
            f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /{filt} "
            f"/Length {len(data)} >>\nstream\n".encode()
            + data
            + b"\nendstream"
        )
    xref = fh.tell()
    fh.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        fh.write(f"{off:010d} 00000 n \n".encode())
    fh.write(
        f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
