#!/usr/bin/env bash
# The GPU checks as one command (the device machine: CUDA torch, no DALI, no network).
#
#   scripts/gpu_check.sh --prepare     here, before a device call: copy libjpeg's headers and
#                                      shared library into .gpu/ (git-ignored) to carry along
#   scripts/gpu_check.sh [SECONDS]     there: build the extension in place (against .gpu/ when
#                                      present), run the CUDA tests, print the device rows of
#                                      the benchmark as JSON (benchmarks/device_rows.py)
#   scripts/gpu_check.sh --dry-run     the same on a CPU machine, device cpu (CI runs it)
#
# A device call: run(command="bash scripts/gpu_check.sh 5", carry=[".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p .gpu/include .gpu/lib
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  for h in jpeglib.h jerror.h jmorecfg.h jconfig.h; do
    src=$(find /usr/include -name "$h" | head -1)
    [ -n "$src" ] || { echo "gpu_check: $h not found (apt-get install libjpeg-dev)" >&2; exit 2; }
    cp "$src" .gpu/include/
  done
  lib=$(ldconfig -p | awk '/libjpeg\.so\.62 .*x86-64/ {print $NF; exit}')
  [ -n "$lib" ] || { echo "gpu_check: libjpeg.so.62 not found" >&2; exit 2; }
  cp -L "$lib" .gpu/lib/libjpeg.so.62
  ln -sf libjpeg.so.62 .gpu/lib/libjpeg.so
  echo "gpu_check: .gpu/ prepared ($(du -sh .gpu | cut -f1)); carry it: carry=[\".gpu\"]"
  exit 0
fi

device=cuda
seconds=${1:-5}
if [ "${1:-}" = "--dry-run" ]; then device=cpu; seconds=${2:-1}; fi

if [ -d .gpu ]; then  # libjpeg carried along
  export CFLAGS="${CFLAGS:-} -I$PWD/.gpu/include" LDFLAGS="${LDFLAGS:-} -L$PWD/.gpu/lib"
  export LD_LIBRARY_PATH="$PWD/.gpu/lib:${LD_LIBRARY_PATH:-}" FREQLOAD_LIBJPEG_STATIC=0
fi
if ! "$PY" -c 'import freqload._core' >/dev/null 2>&1; then
  echo "gpu_check: building the extension in place" >&2
  "$PY" setup.py -q build_ext --inplace >&2
fi
"$PY" -c 'import freqload, torch; print("gpu_check: freqload", freqload.__version__, "on",
freqload.libjpeg_version(), "| torch", torch.__version__, "| cuda", torch.cuda.is_available())' >&2
if [ "$device" = cuda ]; then
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "gpu_check: no CUDA device (use --dry-run on a CPU machine)")'
  # the CUDA tests (DALI cases skip where DALI is missing, and say so)
  "$PY" -m pytest -q -rs -p no:cacheprovider -k cuda tests/ >&2
fi
"$PY" benchmarks/device_rows.py --device "$device" --seconds "$seconds"
