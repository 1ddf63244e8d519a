"""PSNR of decoded frames against FFmpeg's own decode, per backend, for the decode matrix's
clips that go through a scaler or a bit-depth conversion (issue 11: >= 35 dB).

Makes the clips as `tests/test_decode_matrix.py` does, decodes every frame at display size
through the backend the probe chose and through PyAV, and compares five frames with the
``ffmpeg`` command line's decode at thumbnail size (the matrix's measure). The last line is
one JSON object: the smallest PSNR per clip and backend.

    python benchmarks/decode_psnr.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CLIPS = ("mkv_hevc_10bit", "anamorphic_sar_4_3", "odd_size_161x121", "mp4_h264_cfr")


def main() -> None:
    import test_decode_matrix as m

    from summarizer.config import SampleSettings
    from summarizer.decode import decord_source, probing, pyav_source

    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CLIPS:
            ext, args, _ = m.CLIPS[name]
            path = Path(tmp) / f"{name}.{ext}"
            if m.run_ffmpeg("-loglevel", "error", *m.SRC, *args, str(path)).returncode:
                continue
            chosen = probing.choose(path)
            readers = {"probe": chosen}
            if isinstance(chosen, pyav_source.PyAVSource):
                try:  # what decord would give, had the probe let it read this file
                    index, native = decord_source.build_index(path, chosen.index.info)
                    readers["decord"] = decord_source.DecordSource(path, index, native, None)
                except decord_source.DecordRejected:
                    pass
            else:
                readers["pyav"] = chosen.fallback()
            for label, src in readers.items():
                batches = list(src.iter_frames(SampleSettings(fps=None, short_side=4096)))
                times = np.concatenate([b.times_s for b in batches])
                images = np.concatenate([b.images for b in batches])
                h, w = images.shape[1:3]
                ref_t, ref = m.ffmpeg_decode(path, (w, h), src.index.info.interlaced)
                k = min(len(times), len(ref_t))
                dbs = []
                for i in np.linspace(0, k - 1, 5).astype(int):
                    j = int(np.argmin(np.abs(ref_t - times[i])))
                    dbs.append(m.psnr(m.thumb(images[i]), m.thumb(ref[j])))
                key = f"{label}={src.backend}"
                out.setdefault(name, {})[key] = round(min(dbs), 2)
                print(f"{name:20s} {key:14s} {w}x{h}  min PSNR {min(dbs):6.2f} dB")
    print(json.dumps({"bench": "decode_psnr", "min_psnr_db": out}))


if __name__ == "__main__":
    main()
