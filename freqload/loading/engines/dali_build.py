"""Build and load the DALI operator plugin (``fn.freqload.jpeg_to_dct``).

The plugin is compiled on first use from the sources shipped inside the
package (``freqload/_native/core`` and ``freqload/_native/dali``), with DALI's
own ``nvidia.dali.sysconfig`` flags, and cached per DALI version and source
hash under ``~/.cache/freqload/dali-ops`` (``$FREQLOAD_CACHE`` or
``$XDG_CACHE_HOME`` move it). Builds are atomic (temporary file, then rename)
and serialised with a lock file, so concurrent ranks do not race.

DALI's headers include CUDA's even for a CPU operator: they come from
``$CUDA_HOME``, ``/usr/local/cuda`` or the pip wheels ``nvidia-cuda-runtime``,
``nvidia-cuda-crt`` and ``nvidia-cuda-cccl``.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading

from ..._native.build_config import CORE_CFLAGS, CORE_HEADERS, CORE_SOURCES
from ...cache_dir import default_cache_dir
from ...errors import FreqloadError

_NATIVE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "_native")
_C_SOURCES = CORE_SOURCES
_CXX_SOURCES = ["dali/jpeg_to_dct.cc"]
_HEADERS = CORE_HEADERS

_lock = threading.Lock()
_loaded: str | None = None


class OperatorBuildError(FreqloadError, RuntimeError):
    """The DALI operator could not be built or loaded; the message says what to install."""


def _source_hash(extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for rel in _C_SOURCES + _CXX_SOURCES + _HEADERS + ["build_config.py"]:
        with open(os.path.join(_NATIVE, rel), "rb") as f:
            h.update(rel.encode() + b"\0" + f.read())
    return h.hexdigest()[:16]


def cuda_include_dirs() -> list[str]:
    """Folders that together hold cuda_runtime_api.h (toolkit or pip wheels)."""
    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", ""), "/usr/local/cuda"]
    for r in roots:
        if r and os.path.exists(os.path.join(r, "include", "cuda_runtime_api.h")):
            return [os.path.join(r, "include")]
    found = []
    for sp in sys.path:
        for pattern in ("nvidia/cuda_runtime/include", "nvidia/cu*/include",
                        "nvidia/cuda_crt/include", "nvidia/cuda_cccl/include"):
            for d in glob.glob(os.path.join(sp, pattern)):
                if os.path.isdir(d) and d not in found:
                    found.append(d)
    if any(os.path.exists(os.path.join(d, "cuda_runtime_api.h")) for d in found):
        return found
    return []


def _pkg_config_jpeg() -> tuple[list[str], list[str]]:
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "libjpeg"], check=True,
                                capture_output=True, text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", "libjpeg"], check=True,
                              capture_output=True, text=True).stdout
        return shlex.split(cflags), shlex.split(libs)
    except (OSError, subprocess.CalledProcessError):
        return [], ["-ljpeg"]


def _run(cmd: list[str]) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise OperatorBuildError(
            f"building freqload's DALI operator failed: cannot run {cmd[0]} ({e}); install "
            "gcc and g++ (apt-get install gcc g++) or set CC / CXX") from e
    if proc.returncode != 0:
        raise OperatorBuildError(
            "building freqload's DALI operator failed:\n  " + " ".join(shlex.quote(c) for c in cmd)
            + "\n" + (proc.stderr or proc.stdout)[-4000:])


def operator_path() -> str:
    """Build the plugin if needed and return its path (a .so in the user cache)."""
    try:
        import nvidia.dali as dali
        import nvidia.dali.sysconfig as sysconfig
    except ImportError as e:
        raise OperatorBuildError(
            "DALI is not installed: pip install nvidia-dali-cuda130 (or the build matching "
            "your CUDA); the torch engine (engine='torch') works without it") from e
    compile_flags = sysconfig.get_compile_flags()
    link_flags = sysconfig.get_link_flags()
    key = f"{dali.__version__}|{' '.join(compile_flags)}|{sys.platform}"
    folder = os.path.join(default_cache_dir(), "dali-ops",
                          f"{dali.__version__}-{_source_hash(key)}")
    lib = os.path.join(folder, "libfreqload_dali.so")
    if os.path.exists(lib):
        return lib
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cc or not cxx:
        raise OperatorBuildError(
            "building freqload's DALI operator needs a C and a C++ compiler: "
            "apt-get install gcc g++ (or set CC / CXX); engine='torch' works without it")
    cuda = cuda_include_dirs()
    if not cuda:
        raise OperatorBuildError(
            "DALI's headers need CUDA's headers even for a CPU operator, and none were found: "
            "install the CUDA toolkit (or set CUDA_HOME), or "
            "pip install nvidia-cuda-runtime nvidia-cuda-crt nvidia-cuda-cccl "
            "(the versions matching DALI's CUDA); engine='torch' works without them")
    jpeg_cflags, jpeg_libs = _pkg_config_jpeg()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if os.path.exists(lib):  # another process built it meanwhile
            return lib
        print(f"freqload: building the DALI operator for DALI {dali.__version__} "
              f"(once; cached in {folder})", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            objs = []
            for rel in _C_SOURCES:
                obj = os.path.join(tmp, os.path.basename(rel) + ".o")
                _run([cc, "-fPIC", *CORE_CFLAGS, *jpeg_cflags, "-c", os.path.join(_NATIVE, rel),
                      "-o", obj])
                objs.append(obj)
            for rel in _CXX_SOURCES:
                obj = os.path.join(tmp, os.path.basename(rel) + ".o")
                _run([cxx, "-std=c++20", "-O2", "-fPIC", *compile_flags,
                      *[f"-I{d}" for d in cuda], *jpeg_cflags,
                      "-c", os.path.join(_NATIVE, rel), "-o", obj])
                objs.append(obj)
            dali_dir = sysconfig.get_lib_dir()
            out = os.path.join(tmp, "libfreqload_dali.so")
            _run([cxx, "-shared", "-o", out, *objs, *link_flags, *jpeg_libs, "-lm", "-lpthread",
                  f"-Wl,-rpath,{dali_dir}", "-Wl,--no-undefined"])
            os.replace(out, lib)
    return lib


def load_operator() -> str:
    """Build (if needed) and load the plugin into DALI; idempotent. Returns its path."""
    global _loaded
    with _lock:
        if _loaded is None:
            lib = operator_path()
            import nvidia.dali.plugin_manager as plugin_manager

            try:
                plugin_manager.load_library(lib)
            except Exception as e:  # DALI raises RuntimeError with dlopen's text
                raise OperatorBuildError(f"DALI could not load {lib}: {e}") from e
            _loaded = lib
        return _loaded
