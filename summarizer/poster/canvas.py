"""A poster canvas kept on disk, written tile by tile and encoded band by band.

A 1000-megapixel poster is 3 GB of RGB: held in memory (a PIL image) it, plus the encoder's
copy, took 3.7 GB. Here the canvas is a raw file (``height x width x 3`` bytes, next to the
output, deleted after); tiles are written into it with positioned writes, and the PNG or PDF is
encoded from bands of at most `BAND_BYTES`, streamed through zlib. Memory stays at one band +
one tile whatever the print size. Both formats are lossless (PNG; PDF with a Flate-encoded RGB
image per band, drawn one below the other on one page of the print size).
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


class DiskCanvas:
    """An RGB canvas of ``width x height`` in a raw file, filled with `background`."""

    def __init__(self, path: Path, width: int, height: int, background: tuple[int, int, int]):
        self.path, self.width, self.height = Path(path), int(width), int(height)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        line = np.tile(np.asarray(background, np.uint8), self.width).tobytes()
        rows = self.band_rows()
        block = line * rows
        for y in range(0, self.height, rows):
            n = min(rows, self.height - y)
            os.pwrite(self.fd, block if n == rows else line * n, y * len(line))

    def band_rows(self) -> int:
        return max(1, BAND_BYTES // (self.width * 3))

    def paste(self, tile: np.ndarray, x0: int, y0: int) -> None:
        """Write `tile` (h, w, 3) uint8 with its top-left corner at (x0, y0)."""
        t = np.ascontiguousarray(tile, dtype=np.uint8)
        stride = self.width * 3
        for i, row in enumerate(t):
            os.pwrite(self.fd, row.tobytes(), (y0 + i) * stride + x0 * 3)

    def bands(self):
        """Yield (y0, band (rows, width, 3) uint8) from top to bottom."""
        rows, stride = self.band_rows(), self.width * 3
        for y in range(0, self.height, rows):
            n = min(rows, self.height - y)
            data = os.pread(self.fd, n * stride, y * stride)
            yield y, np.frombuffer(data, np.uint8).reshape(n, self.width, 3)

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


def write_pdf(canvas: DiskCanvas, fh: BinaryIO, dpi: float, level: int = 6) -> None:
    """Encode the canvas as a one-page PDF of the print size (``pixels / dpi`` inches): one
    Flate-compressed RGB image per band, stacked from the top."""
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
        data = zlib.compress(band.tobytes(), level)
        obj(
            f"<< /Type /XObject /Subtype /Image /Width {canvas.width} /Height {len(band)} "
            f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
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
