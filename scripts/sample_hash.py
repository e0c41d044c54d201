"""A digest of every sample the loader makes over a folder: the check that a change left the
loader's output bit-identical.

    python scripts/sample_hash.py ../shared/data/photos/imagenet-sample-500

Eight configurations: eval and train (seed 0, epoch 0), grids of 28 and 56 blocks, int16
(``normalize=False``) and float32 (the raw dequantised values); DCTLoader with its defaults
otherwise (dctnet24, the DALI engine where installed). Prints one SHA-256 per
configuration (over the batches' bytes and labels, in the epoch's order) and one over all.
Only the public API is used, so the same script runs on any version of the loader."""
from __future__ import annotations

import argparse
import hashlib

import freqload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    total = hashlib.sha256()
    for train in (False, True):
        for size in (28, 56):
            for normalize in (False, None):
                loader = freqload.DCTLoader(args.folder, batch_size=64, size=(size, size),
                                            train=train, normalize=normalize, seed=0,
                                            engine=args.engine, num_workers=args.workers,
                                            device="cpu")
                h = hashlib.sha256()
                n = 0
                for x, y in loader:
                    h.update(x.contiguous().numpy().tobytes())
                    h.update(y.numpy().tobytes())
                    n += len(y)
                total.update(h.digest())
                kind = "train" if train else "eval"
                dtype = "int16" if normalize is False else "float32"
                print(f"{kind:5} {size:2}x{size:<2} {dtype:7} {n} samples  {h.hexdigest()}")
    print(f"all {total.hexdigest()}")


if __name__ == "__main__":
    main()
