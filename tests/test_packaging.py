"""The sdist and the wheel as a user gets them: what they hold, and the test suite's import
step run against the installed wheel (not this checkout)."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_sdist_and_wheel(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                        "--outdir", str(dist), ROOT], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # no warning of our own making (setuptools' "byte-compiling is disabled" follows the
    # environment's PYTHONDONTWRITEBYTECODE)
    warnings = [ln for ln in (r.stdout + r.stderr).splitlines()
                if "warn" in ln.lower() and "byte-compiling is disabled" not in ln]
    assert not warnings, warnings
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
        t.extractall(tmp_path / "src", filter="data")
    for need in ("LICENSE", "README.md", "Makefile", "setup.py", "pyproject.toml",
                 "tests/conftest.py", "tests/native/fl_driver.c", "scripts/setup.sh",
                 "examples/imagenet/train.py", "benchmarks/loader.py", ".ci/run",
                 "freqload/py.typed", "freqload/_native/core/fl_core.h", "freqload/_core.pyi",
                 "docs/index.md", "docs/conf.py", "conftest.py", "CHANGELOG.md"):
        assert need in names, need
    assert not [n for n in names if n.endswith(".so")]
    with zipfile.ZipFile(wheel) as z:
        inside = z.namelist()
    assert any(n.startswith("freqload/_core") and n.endswith(".so") for n in inside)
    assert "freqload/py.typed" in inside and "freqload/_core.pyi" in inside
    assert any(n.endswith("licenses/LICENSE") for n in inside)
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                        "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    src = tmp_path / "src" / sdist.name[:-len(".tar.gz")]
    env = dict(os.environ, PYTHONPATH=str(site))
    # -P: the sdist's own freqload/ (no compiled core in it) must not shadow the wheel
    where = subprocess.run([sys.executable, "-P", "-c",
                            "import freqload; print(freqload.__file__)"],
                           cwd=src, env=env, capture_output=True, text=True)
    assert where.returncode == 0 and where.stdout.strip().startswith(str(site)), where
    r = subprocess.run([sys.executable, "-P", "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", "tests"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "error" not in r.stdout.lower().split("tests collected")[-1], r.stdout[-2000:]
