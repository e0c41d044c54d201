"""Build freqload's native extension against libjpeg-turbo.

libjpeg is found with pkg-config (falling back to -ljpeg). Where a static
libjpeg archive exists that can go into a shared object (built with -fPIC),
it is linked in with its symbols hidden (-Wl,--exclude-libs,ALL), so it
cannot clash with the libjpeg copies Pillow, OpenCV or DALI load. Otherwise
the extension links the shared libjpeg; jpeg_CreateDecompress then checks at
run time that the loaded library matches the headers (a clear error, not a
crash). FREQLOAD_LIBJPEG_STATIC=/path/libjpeg.a forces an archive;
FREQLOAD_LIBJPEG_STATIC=0 forces the shared library.
"""
import os
import runpy
import shlex
import subprocess
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = os.path.join("freqload", "_native")
# the core's sources and flags, shared with the DALI operator's build
BUILD = runpy.run_path(os.path.join(NATIVE, "build_config.py"))
SOURCES = [os.path.join(NATIVE, *rel.split("/")) for rel in BUILD["CORE_SOURCES"]] + [
    os.path.join(NATIVE, "python", "fl_module.c"), os.path.join(NATIVE, "python", "fl_pool_type.c")]


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "libjpeg"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(out)


def static_archive_candidates():
    forced = os.environ.get("FREQLOAD_LIBJPEG_STATIC")
    if forced == "0":
        return []
    if forced:
        return [forced]
    libdir = pkg_config("--variable=libdir")
    dirs = [libdir[0]] if libdir else []
    dirs += ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
             "/usr/lib", "/usr/local/lib", "/opt/libjpeg-turbo/lib64"]
    return [os.path.join(d, "libjpeg.a") for d in dirs
            if os.path.exists(os.path.join(d, "libjpeg.a"))]


def archive_links_into_shared_object(cc, archive, cflags):
    """True when `archive` links into a .so (Debian's is not built with -fPIC)."""
    src = "#include <stdio.h>\n#include <jpeglib.h>\nint t(void){struct jpeg_decompress_struct c;" \
          "struct jpeg_error_mgr e;c.err=jpeg_std_error(&e);jpeg_create_decompress(&c);" \
          "jpeg_destroy_decompress(&c);return 0;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        c_file = os.path.join(tmp, "t.c")
        with open(c_file, "w") as f:
            f.write(src)
        cmd = [cc, "-fPIC", "-shared", *cflags, c_file, archive, "-Wl,--exclude-libs,ALL",
               "-o", os.path.join(tmp, "t.so")]
        return subprocess.run(cmd, capture_output=True).returncode == 0


class BuildExt(build_ext):
    def build_extensions(self):
        cc = self.compiler.compiler_so[0] if hasattr(self.compiler, "compiler_so") else "cc"
        cflags = pkg_config("--cflags") or []
        libs = pkg_config("--libs") or ["-ljpeg"]
        for ext in self.extensions:
            ext.extra_compile_args += cflags + BUILD["CORE_CFLAGS"] + ["-Wall"]
            archive = next((a for a in static_archive_candidates()
                            if archive_links_into_shared_object(cc, a, cflags)), None)
            if archive:
                ext.extra_objects.append(archive)
                ext.extra_link_args += ["-Wl,--exclude-libs,ALL"]
                print(f"freqload: linking libjpeg statically from {archive} (symbols hidden)")
            else:
                ext.extra_link_args += libs
                print("freqload: no PIC static libjpeg found; linking the shared libjpeg "
                      f"({' '.join(libs)})")
            ext.extra_link_args += ["-lm", "-lpthread"]
        super().build_extensions()


setup(
    ext_modules=[Extension("freqload._core", SOURCES, depends=[
        os.path.join(NATIVE, *rel.split("/")) for rel in BUILD["CORE_HEADERS"]])],
    cmdclass={"build_ext": BuildExt},
)
