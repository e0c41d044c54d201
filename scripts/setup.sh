#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian/Ubuntu machine: the system packages the
# native build needs (C compiler, pkg-config, libjpeg-turbo's dev files, Python
# headers), a virtual environment in .venv, and freqload installed into it
# (editable) with its test dependencies. Safe to run again: it only does
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${FREQLOAD_VENV:-.venv}

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if ! { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libjpeg; } \
   && [ ! -f /usr/include/jpeglib.h ]; then
  need+=(libjpeg-dev)  # libjpeg62-turbo-dev on Debian, libjpeg-turbo8-dev on Ubuntu
fi
# jpegtran/djpeg (libjpeg-turbo-progs): the tests' independent references for lossless
# flips and crops
command -v jpegtran >/dev/null 2>&1 || need+=(libjpeg-turbo-progs)
if ! "$PY" -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  need+=(python3-dev)
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# torch first, pinned, so nothing below pulls another (multi-GB CUDA) build;
# FREQLOAD_TORCH="torch==X" picks another.
if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
  echo "setup: installing ${FREQLOAD_TORCH:-torch==2.13.0}" >&2
  "${PIP[@]}" "${FREQLOAD_TORCH:-torch==2.13.0}"
fi
echo "setup: installing freqload (editable, with the dali, test, lint and docs extras) into $VENV" >&2
"${PIP[@]}" -e ".[dali,test,lint,docs]"
# DALI's headers need CUDA's to build the operator: the toolkit, or these wheels
if ! "$VENV/bin/python" -c 'from freqload.loading.engines.dali_build import cuda_include_dirs as c; raise SystemExit(not c())' >/dev/null 2>&1; then
  echo "setup: no CUDA toolkit headers; installing them from pip for the DALI operator" >&2
  "${PIP[@]}" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-cuda-cccl==13.0.*"
fi
"$VENV/bin/python" -c 'import freqload; print("setup: freqload", freqload.__version__, "on", freqload.libjpeg_version())' >&2
