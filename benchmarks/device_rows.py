#!/usr/bin/env python
"""The device rows of the benchmark, as JSON: what a GPU machine adds to the picture.

    python benchmarks/device_rows.py [DIR] [--device cuda|cpu] [--seconds 5]

Rows (native engine, so it runs where DALI is not installed; mask dctnet24, 56x56 blocks,
batches of 64, all CPUs as workers):

  dct24-native-train        DCTLoader(train=True) to a normalised float32 tensor on the device
  dct24-native-blocks-cpu   transform="blocks", regroup="cpu": chroma aligned on the host
  dct24-native-blocks-dev   transform="blocks", regroup="device": planes cross, the regroup
                           runs on the device (freqload.loading.regroup)

Per row: img/s, bytes per sample that crossed host -> device (measured by the loader),
and on CUDA the copy time of one pinned batch (CUDA events). Default DIR: the embedded
synthetic data set (made on first use), so it runs on a machine without ../shared/data.
Used by scripts/gpu_check.sh; on a CPU machine (--device cpu) it is the dry run CI runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    import freqload
    from freqload.data.sources import list_jpegs
    from freqload.loading.stats import ChannelStats
    from freqload.tools.bench import _copy_ms, default_dataset

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    files = list_jpegs(args.dir or default_dataset(progress=False))
    source = [(f, 0) for f in files] * max(1, 1000 // max(len(files), 1))
    identity = ChannelStats(mean=np.zeros(192), std=np.ones(192))
    rows = []
    for name, kw in (("dct24-native-train", dict(train=True)),
                     ("dct24-native-blocks-cpu", dict(recipe=freqload.Recipe(transform="blocks"))),
                     ("dct24-native-blocks-dev", dict(recipe=freqload.Recipe(transform="blocks",
                                                                           regroup="device")))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loader = freqload.DCTLoader(source, batch_size=args.batch_size, mask="dctnet24",
                                        size=(56, 56), engine="native", device=device,
                                        normalize=identity, drop_last=True, **kw)
        n, t0 = 0, None
        while t0 is None or time.perf_counter() - t0 < args.seconds:
            for x, _ in loader:
                if t0 is None:  # the first batch warms up (workers start)
                    t0 = time.perf_counter()
                    continue
                if device.type == "cuda":
                    torch.cuda.synchronize()
                n += x.shape[0]
                assert x.device.type == device.type and x.dtype == torch.float32
                if time.perf_counter() - t0 >= args.seconds:
                    break
        elapsed = time.perf_counter() - t0
        rows.append({"pipeline": name, "device": str(device), "img_per_s": n / elapsed,
                     "bytes_per_sample": loader.bytes_per_sample, "images": n,
                     "copy_ms_per_batch": _copy_ms((args.batch_size, 24, 56, 56), torch.int16,
                                                   device)})
    print(json.dumps({"device": str(device), "torch": torch.__version__,
                      "cuda": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                      "files": len(files), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
