#!/usr/bin/env python3
"""Fuzz freqload's Python API with atheris (coverage-guided, over the C extension too).

    .venv/bin/pip install atheris          # or: pip install -e ".[fuzz]"
    .venv/bin/python scripts/fuzz_api.py [-max_total_time=600] [CORPUS_DIR ...]

Every input is one byte string, taken as a JPEG by each public entry point
(tests/api_calls.py: read_header, read_coefficients strict and not and with the pixel
fallback, to_channels, hflip, crop, resize_crop, sample for every transform, the
loaders' one-call native decode for every transform with partial decoding on and off,
the device-regroup planes, and ``freqload inspect``). Any exception but a
FreqloadError is a finding: atheris stops and writes the input as crash-<sha1>. Seeded,
by default, with ../shared/data/jpeg-conformance (copied to build/fuzz-api/corpus, where
new inputs are added). Findings go into tests/test_isolation.py as regression inputs.
"""
from __future__ import annotations

import os
import shutil
import sys

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

with atheris.instrument_imports():
    import freqload  # noqa: F401
    from freqload.errors import FreqloadError

    from api_calls import entry_points  # the calls, shared with tests/test_api_fuzz.py

SEEDS = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "jpeg-conformance"))
WORK = os.path.join(ROOT, "build", "fuzz-api")


def test_one_input(data: bytes):
    for _, call in entry_points(data):
        try:
            call()
        except FreqloadError:
            pass  # a clear, documented error: what bad input must give


def main():
    args = sys.argv[1:]
    if not any(not a.startswith("-") for a in args):
        corpus = os.path.join(WORK, "corpus")
        if not os.path.isdir(corpus):
            os.makedirs(corpus)
            for d, _, files in os.walk(SEEDS):
                for name in files:
                    p = os.path.join(d, name)
                    if os.path.getsize(p) < 1 << 20:
                        shutil.copy(p, os.path.join(corpus, f"{len(os.listdir(corpus))}-{name}"))
        args.append(corpus)
    os.makedirs(WORK, exist_ok=True)
    os.chdir(WORK)  # crash-* files land here
    atheris.Setup([sys.argv[0], "-rss_limit_mb=4096", "-timeout=20", "-max_len=1000000",
                   *args], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
