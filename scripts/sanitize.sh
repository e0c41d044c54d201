#!/usr/bin/env bash
# The native core under sanitizers, one command each (see the README's "Hardening"):
#   scripts/sanitize.sh asan              ASan + UBSan build of the core + tests/native/fl_driver.c,
#                                         run over every file of ../shared/data/jpeg-conformance,
#                                         then its --pool mode (any report fails the run)
#   scripts/sanitize.sh valgrind          the same driver (-O1 -g) under valgrind memcheck
#   scripts/sanitize.sh tsan [THREADS]    ThreadSanitizer: the driver's --threads mode (every
#                                         file's samples from THREADS threads at once, default
#                                         4, each thread in its own order, against a fresh
#                                         decoder's), then its --pool mode (the core's thread
#                                         pool of THREADS threads, seven batches in flight, one
#                                         cancelled, one freed unfinished, racing on the lazy
#                                         tables); any race or difference fails
#   scripts/sanitize.sh diff [N]          differential fuzzing of the fast entropy decoder:
#                                         ASan + UBSan driver, every corpus file and photo
#                                         and N seeded mutations of each (default 50) decoded
#                                         by the fast path and by libjpeg alone; any
#                                         difference in status, message, warnings or values
#                                         fails (no clang needed)
#   scripts/sanitize.sh fuzz [SECONDS]    libFuzzer + ASan/UBSan (needs clang), seeded with the
#                                         corpus; every input also gets the differential check;
#                                         crashes land in build/fuzz/ (default 1800 s;
#                                         Debian: apt-get install clang libclang-rt-14-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-asan}
out=build/sanitize
mkdir -p "$out"
srcs=$(python3 -c 'import runpy; c = runpy.run_path("freqload/_native/build_config.py"); print(" ".join("freqload/_native/" + s for s in c["CORE_SOURCES"]))')
jpeg=$(pkg-config --cflags --libs libjpeg 2>/dev/null || echo -ljpeg)
corpus=()
for d in ../shared/data/jpeg-conformance; do
  [ -d "$d" ] && while IFS= read -r -d '' f; do corpus+=("$f"); done < <(find "$d" -type f -size -40M -print0 | sort -z)
done
[ ${#corpus[@]} -gt 0 ] || { echo "no corpus (../shared/data/jpeg-conformance)" >&2; exit 2; }
case "$mode" in
  asan)
    ${CC:-gcc} -std=c99 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
      -fsanitize=address,undefined -fno-sanitize-recover=all \
      -o "$out/fl_driver_asan" tests/native/fl_driver.c $srcs $jpeg -lm -lpthread
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$out/fl_driver_asan" "${corpus[@]}"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$out/fl_driver_asan" --pool 3 "${corpus[@]}"
    echo "asan+ubsan: clean over ${#corpus[@]} files (every entry point, then the pool)"
    ;;
  valgrind)
    ${CC:-gcc} -std=c99 -D_GNU_SOURCE -O1 -g -o "$out/fl_driver" tests/native/fl_driver.c $srcs $jpeg -lm -lpthread
    valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --show-leak-kinds=definite,indirect -q "$out/fl_driver" "${corpus[@]}"
    echo "valgrind memcheck: clean over ${#corpus[@]} files"
    ;;
  tsan)
    # -DFL_NO_CLONES: no ifunc resolvers, which run before TSan's runtime is up
    ${CC:-gcc} -std=c99 -D_GNU_SOURCE -DFL_NO_CLONES -O1 -g -fsanitize=thread \
      -o "$out/fl_driver_tsan" tests/native/fl_driver.c $srcs $jpeg -lm -lpthread
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      "$out/fl_driver_tsan" --threads "${2:-4}" "${corpus[@]}"
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      "$out/fl_driver_tsan" --pool "${2:-4}" "${corpus[@]}"
    echo "tsan: clean over ${#corpus[@]} files (threads and pool)"
    ;;
  diff)
    photos=()
    [ -d ../shared/data/photos ] && while IFS= read -r -d '' f; do photos+=("$f"); done \
      < <(find ../shared/data/photos -type f -iname '*.jp*g' -print0 | sort -z)
    ${CC:-gcc} -std=c99 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
      -fsanitize=address,undefined -fno-sanitize-recover=all \
      -o "$out/fl_driver_asan" tests/native/fl_driver.c $srcs $jpeg -lm -lpthread
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$out/fl_driver_asan" --differential "${2:-50}" "${corpus[@]}" "${photos[@]}"
    ;;
  fuzz)
    seconds=${2:-1800}
    command -v clang >/dev/null || { echo "fuzz needs clang (apt-get install clang)" >&2; exit 2; }
    mkdir -p build/fuzz/corpus
    cp -n "${corpus[@]}" build/fuzz/corpus/ 2>/dev/null || true
    clang -std=c99 -D_GNU_SOURCE -DFL_FUZZ -O1 -g -fsanitize=fuzzer,address,undefined \
      -o build/fuzz/fl_fuzz tests/native/fl_driver.c $srcs $jpeg -lm -lpthread
    cd build/fuzz && ./fl_fuzz -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -max_len=4000000 corpus
    ;;
  *) echo "usage: $0 asan|valgrind|tsan [THREADS]|diff [N]|fuzz [SECONDS]" >&2; exit 2 ;;
esac
