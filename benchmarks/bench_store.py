"""Cost of the store's integrity check on open, for a two-hour video's embedding entry.

The entry a two-hour video gets at the default 2 frames/s: 14 400 frames, thumbnails
uint8 (14 400, 128, 228, 3) = 1.26 GB (memory-mapped), embeddings float32 (14 400, 512),
times and indices. Written batch by batch through the real `ResultWriter` (the CRC-32 of a
streamed array is computed while writing), then opened with `Store.load`:

- `first_open_s`: the first open in a process, every file checked (sha256 up to 4 MiB,
  CRC-32 of the payload above), file data in the page cache;
- `cold_open_s`: the same with the files evicted from the page cache first
  (``posix_fadvise(DONTNEED)``): disk read speed bounds it;
- `again_open_s`: later opens in the same process (big files unchanged since their check:
  one ``stat`` each);
- `unverified_open_s`: ``load(verify=False)`` (size and header checks only, the old behaviour
  for big files);
- `sha256_s`: what checking the same bytes with sha256 instead of CRC-32 would cost.

Medians of `--runs` runs. The last line is one JSON object.

    python benchmarks/bench_store.py [--runs 3] [--minutes 120] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from summarizer.store import Store  # noqa: E402
from summarizer.store import files as store_files  # noqa: E402


def median(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def evict(folder: Path) -> None:
    for f in folder.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--dir", default=None, help="where to write the temporary store")
    args = ap.parse_args()

    frames = int(args.minutes * 60 * 2)
    batch = 64
    rng = np.random.default_rng(0)
    thumbs_batch = rng.integers(0, 255, (batch, 128, 228, 3), dtype=np.uint8)
    root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    try:
        store = Store(root)
        key = store.key("ab" * 32, "embed", "bench", "pixels-v1")

        def write(w):
            for start in range(0, frames, batch):
                n = min(batch, frames - start)
                w.append("times_s", np.arange(start, start + n, dtype=np.float64) / 2)
                w.append("indices", np.arange(start, start + n, dtype=np.int64) * 12)
                w.append("embeddings", rng.standard_normal((n, 512)).astype(np.float32))
                w.append("thumbnails", thumbs_batch[:n])
            return {"frames": frames}

        t0 = time.perf_counter()
        res, _ = store.get_or_compute(key, write)
        write_s = time.perf_counter() - t0
        entry = res.path
        size = sum(f.stat().st_size for f in entry.iterdir())
        del res

        def first_open() -> None:
            store_files._VERIFIED.clear()  # as in a new process
            assert store.load(key) is not None

        def cold_open() -> None:
            evict(entry)
            first_open()

        first = median(first_open, args.runs)
        cold = median(cold_open, args.runs)
        first_open()
        again = median(lambda: store.load(key), args.runs)
        unverified = median(lambda: store.load(key, verify=False), args.runs)

        def sha_all() -> None:
            for f in entry.glob("*.npy"):
                h = hashlib.sha256()
                with open(f, "rb") as fh:
                    while chunk := fh.read(1 << 22):
                        h.update(chunk)

        sha = median(sha_all, args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    out = {
        "frames": frames,
        "entry_gb": round(size / 1e9, 3),
        "write_s": round(write_s, 2),
        "first_open_s": round(first, 3),
        "cold_open_s": round(cold, 3),
        "again_open_s": round(again, 5),
        "unverified_open_s": round(unverified, 5),
        "sha256_s": round(sha, 3),
        "check_gb_per_s": round(size / 1e9 / first, 2),
    }
    for k, v in out.items():
        print(f"{k:>18}: {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
