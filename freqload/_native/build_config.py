"""The native core's sources and C flags, in one place for both builds.

Read by setup.py (the Python extension; loaded by path, before the package is
importable) and by freqload/engines/dali_build.py (the DALI operator). The two
must compile the core the same way: -ffp-contract=off keeps fused
multiply-adds out of fl_channels.c's float path, which freqload/regroup.py
repeats operation by operation in torch.
"""

#: the core, relative to freqload/_native
CORE_SOURCES = ["core/fl_decode.c", "core/fl_entropy.c", "core/fl_channels.c", "core/fl_sample.c",
                "core/fl_augment.c", "core/fl_encode.c", "core/fl_dct.c", "core/fl_recipe.c",
                "core/fl_exif.c", "core/fl_orient.c", "core/fl_batch.c", "core/fl_policy.c",
                "core/fl_ops.c"]
CORE_HEADERS = ["core/fl_core.h", "core/fl_internal.h", "core/fl_entropy.h"]
#: C flags for the core (plus pkg-config's libjpeg flags and -fPIC)
CORE_CFLAGS = ["-O3", "-std=c99", "-D_GNU_SOURCE", "-fvisibility=hidden", "-ffp-contract=off"]
