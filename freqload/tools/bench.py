"""``freqload bench``: throughput and host-to-device bytes, DCT loading against RGB pipelines.

Pipelines (each hands over training batches, train augmentation included, but the two
eval rows):

=================  =======================================================================
rgb-pil            torchvision's recipe written without torchvision: Pillow decode,
                   RandomResizedCrop 224 (bilinear), flip, ToTensor, Normalize, in torch
                   DataLoader workers; float32 [3, 224, 224] crosses
rgb-dali-roi       DALI's own ResNet-50 training recipe (the baseline for float rows):
                   fn.decoders.image_random_crop (libjpeg-turbo ROI decoding: only the
                   crop is decoded), fn.resize to 224, crop_mirror_normalize (random flip,
                   normalised float32 CHW)
rgb-dali-roi-u8    the same, uint8 CHW out (normalised later on the device): the baseline
                   for int16 rows (what crosses before normalisation, like with like)
rgb-dali-full      an extra row, not a baseline: full decode, then random_resized_crop 224,
                   crop_mirror_normalize (float32) - what freqload compared against before
rgb-dali-gpu       the ROI recipe with nvJPEG "mixed" decoding on the GPU (only with a GPU)
rgb-dali-eval-u8   DALI's validation recipe: decode, resize the shorter side to 256, centre
                   crop 224, uint8 CHW: the baseline of dct-24-eval-i16
dct-192 ...        DCTLoader(train=True) with mask all / dctnet64 / dctnet48 / dctnet24,
dct-24             56x56 blocks (a 448-pixel grid): int16 channels cross, float conversion
                   and normalisation on the device (float32 out: compare with rgb-dali-roi)
dct-24-i16         dct-24 handing over the int16 as it crossed (normalize=False): compare
                   with rgb-dali-roi-u8
dct-24-eval-i16    DCTLoader(train=False): the eval transform (resize the shorter side to
                   512, centre crop 448), int16 as it crossed: compare with rgb-dali-eval-u8
=================  =======================================================================

Per pipeline: img/s, CPU-ms/img (this process and its workers), bytes per sample
measured from the real batches as they cross, the effective input resolution,
and on a GPU the host-to-device copy time (CUDA events) and the time to a ready
normalised batch on the device.
"""
from __future__ import annotations

import ctypes
import dataclasses
import math
import os
import time
import warnings

import numpy as np

from ..codec.mask import ChannelMask
from ..loading.dct_loader import DCTLoader
from ..loading.device import resolve_device
from ..loading.epochs import TransferStats
from ..loading.rgb_loader import MEAN, STD, RGBLoader
from ..loading.stats import ChannelStats
from ..progress import Progress
from . import pictures
from .cpu_time import cpu_seconds
from .pictures import pick_renderer
from .synthetic import make_jpeg_folder

PIPELINES = ("rgb-pil", "rgb-dali-roi", "rgb-dali-roi-u8", "rgb-dali-full", "rgb-dali-gpu",
             "rgb-dali-eval-u8", "dct-192", "dct-64", "dct-48", "dct-24", "dct-24-i16",
             "dct-24-eval-i16")
DCT_MASKS = {"dct-192": "all", "dct-64": "dctnet64", "dct-48": "dctnet48", "dct-24": "dctnet24",
             "dct-24-i16": "dctnet24", "dct-24-eval-i16": "dctnet24"}
#: DALI recipes: name -> (recipe, output dtype); see dali_rgb_batches
DALI_RGB = {"rgb-dali-roi": ("roi", "float"), "rgb-dali-roi-u8": ("roi", "uint8"),
            "rgb-dali-roi-ta-u8": ("roi+ta", "uint8"),
            "rgb-dali-full": ("full", "float"), "rgb-dali-gpu": ("roi", "float"),
            "rgb-dali-eval-u8": ("eval", "uint8")}
#: each row's baseline: like with like (float32 vs float32, int16 vs uint8 before
#: normalisation, eval vs eval)
BASELINE = {"dct-24-i16": "rgb-dali-roi-u8", "rgb-dali-roi-u8": "rgb-dali-roi-u8",
            "dct-24-eval-i16": "rgb-dali-eval-u8", "rgb-dali-eval-u8": "rgb-dali-eval-u8"}
DEFAULT_BASELINE = "rgb-dali-roi"

RGB_SIZE = 224
DCT_SIZE = 56  # blocks: a 448-pixel grid


@dataclasses.dataclass
class BenchResult:
    pipeline: str
    img_per_s: float
    cpu_ms_per_img: float
    bytes_per_sample: int
    resolution: int  #: effective input resolution in pixels (square)
    images: int
    seconds: float
    engine: str = ""
    copy_ms_per_batch: float | None = None  #: GPU only: host-to-device copy (CUDA events)
    ready_ms_per_batch: float | None = None  #: GPU only: wait for a normalised device batch
    skipped: str = ""  #: why the pipeline did not run ("" when it ran)
    #: "measured" (from the batches that crossed) or how the figure was computed
    bytes_source: str = "measured"

    @property
    def bytes_vs_uint8_rgb(self) -> float:
        """bytes_per_sample over uint8 RGB at the same resolution (3 * res^2)."""
        return self.bytes_per_sample / (3 * self.resolution ** 2) if self.resolution else math.nan


# ---- the RGB pipelines ----------------------------------------------------------------

def _dali_rgb_pipeline(files, batch_size, threads, gpu: bool, recipe: str = "roi",
                       out: str = "float"):
    """DALI's ImageNet recipes. recipe "roi": the training recipe of DALI's ResNet-50
    example (decoders.image_random_crop: only the random crop's region is decoded, then
    resize to 224); "roi+ta": the same, then DALI's own TrivialAugmentWide
    (``nvidia.dali.auto_aug.trivial_augment.trivial_augment_wide``, conditional execution,
    its defaults) on the 224 x 224 crop; "full": decode the whole image, then
    random_resized_crop 224; "eval":
    decode, resize the shorter side to 256, centre crop 224. Then crop_mirror_normalize
    to CHW: float32 normalised (out="float") or uint8 (out="uint8"); a random flip for
    the training recipes."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=batch_size, num_threads=threads,
                  device_id=0 if gpu else None,  # type: ignore[arg-type]  # None: CPU only
                  seed=0, prefetch_queue_depth=2, enable_conditionals=recipe == "roi+ta")
    def pipe():
        jpegs, labels = fn.readers.file(files=files, labels=[0] * len(files),
                                        random_shuffle=recipe != "eval", name="reader")
        device = "mixed" if gpu else "cpu"
        if recipe in ("roi", "roi+ta"):
            images = fn.decoders.image_random_crop(
                jpegs, device=device, output_type=types.RGB, random_area=[0.08, 1.0],
                random_aspect_ratio=[3 / 4, 4 / 3], num_attempts=100)
            images = fn.resize(images, resize_x=RGB_SIZE, resize_y=RGB_SIZE)
            if recipe == "roi+ta":
                from nvidia.dali.auto_aug import trivial_augment

                images = trivial_augment.trivial_augment_wide(images)
        elif recipe == "full":
            images = fn.decoders.image(jpegs, device=device, output_type=types.RGB)
            images = fn.random_resized_crop(images, size=RGB_SIZE)
        elif recipe == "eval":
            images = fn.decoders.image(jpegs, device=device, output_type=types.RGB)
            images = fn.resize(images, resize_shorter=256)
        else:
            raise ValueError(f"unknown DALI recipe {recipe!r}")
        kw = dict(output_layout="CHW", crop=(RGB_SIZE, RGB_SIZE))
        if recipe != "eval":
            kw["mirror"] = fn.random.coin_flip()
        if out == "float":
            kw.update(dtype=types.FLOAT, mean=[m * 255 for m in MEAN],
                      std=[s * 255 for s in STD])
        else:
            kw.update(dtype=types.UINT8)
        return fn.crop_mirror_normalize(images, **kw)

    from ..loading.engines.dali_engine import keep_in_children

    p = keep_in_children(pipe())  # a forked DataLoader worker must never destroy it
    p.build()
    return p


def dali_rgb_batches(files, batch_size, threads, recipe: str = "roi", out: str = "float"):
    """A DALI CPU recipe (see _dali_rgb_pipeline); each batch copied into a torch tensor
    as a loader does: float32 or uint8 [b, 3, 224, 224]."""
    import torch

    p = _dali_rgb_pipeline(files, batch_size, threads, gpu=False, recipe=recipe, out=out)
    dtype = torch.float32 if out == "float" else torch.uint8
    while True:
        (images,) = p.run()
        x = torch.empty((len(images), 3, RGB_SIZE, RGB_SIZE), dtype=dtype)
        images.copy_to_external(ctypes.c_void_p(x.data_ptr()))
        yield x


def _rgb_dali_gpu_batches(files, batch_size, threads):
    import torch
    from nvidia.dali.plugin.pytorch import feed_ndarray

    p = _dali_rgb_pipeline(files, batch_size, threads, gpu=True)
    while True:
        (images,) = p.run()
        t = images.as_tensor()
        out = torch.empty(t.shape(), dtype=torch.float32, device="cuda")
        feed_ndarray(t, out, cuda_stream=torch.cuda.current_stream())
        yield out


# ---- measuring -----------------------------------------------------------------------

def _measure(batches, *, seconds, iters, label, progress, device, warmup=2):
    """Run batches (an iterator of device-ready tensors, or of (x, y)) for `seconds` or
    `iters` batches after `warmup`; returns (images, elapsed, cpu, bytes/sample, ready)."""
    import torch

    cuda = device.type == "cuda"
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    # batches with --iters; else whole seconds of the run (the rate is then seconds/s)
    total = iters if iters else max(1, math.ceil(seconds))
    bar = Progress(total, f"{label:>13s}", progress, unit="batches" if iters else "s")
    c0, t0 = cpu_seconds(), time.perf_counter()
    n = done = 0
    ready = []
    while True:
        r0 = time.perf_counter()
        b = next(it)
        x = b[0] if isinstance(b, tuple) else b
        if cuda:
            torch.cuda.synchronize()
            ready.append(time.perf_counter() - r0)
        n += x.shape[0]
        done += 1
        elapsed = time.perf_counter() - t0
        if iters:
            bar.update(1)
            if done >= iters:
                break
        else:
            step = min(int(elapsed), total) - bar.done
            if step > 0:
                bar.update(step)
            if elapsed >= seconds:
                break
    bar.close()
    cpu = cpu_seconds() - c0
    return n, elapsed, cpu, (float(np.mean(ready)) * 1e3 if ready else None)


def _copy_ms(shape, dtype, device) -> float | None:
    """Mean host-to-device copy of one pinned batch, by CUDA events (GPU only)."""
    import torch

    if device.type != "cuda":
        return None
    host = torch.zeros(shape, dtype=dtype).pin_memory()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    host.to(device, non_blocking=True)
    times = []
    for _ in range(10):
        start.record()
        host.to(device, non_blocking=True)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.mean(times))


def run_pipeline(name, files, *, batch_size=64, threads=2, seconds=10.0, iters=None,
                 engine="auto", device=None, progress=None) -> BenchResult:
    """One pipeline's figures (see the module docstring)."""
    import torch

    device = resolve_device(device)
    kw = dict(seconds=seconds, iters=iters, label=name, progress=progress, device=device)
    if name == "rgb-pil":
        reps = max(1, 2000 // max(len(files), 1))  # epochs of >= 2000 images
        rgb = RGBLoader([(f, 0) for f in files] * reps, batch_size=batch_size, size=RGB_SIZE,
                        train=True, num_workers=threads, device=device, drop_last=True)

        def gen():
            while True:
                yield from rgb
        n, el, cpu, ready = _measure(gen(), **kw)
        return BenchResult(name, n / el, cpu * 1e3 / n, rgb.bytes_per_sample, RGB_SIZE, n, el,
                           "torch", _copy_ms((batch_size, 3, RGB_SIZE, RGB_SIZE),
                                             torch.float32, device), ready)
    if name in DALI_RGB:
        gpu = name == "rgb-dali-gpu"
        recipe, out = DALI_RGB[name]
        if gpu and device.type != "cuda":
            return BenchResult(name, math.nan, math.nan, 0, RGB_SIZE, 0, 0.0, "dali",
                               skipped="needs a CUDA GPU")
        try:
            import nvidia.dali  # noqa: F401
        except ImportError:
            return BenchResult(name, math.nan, math.nan, 0, RGB_SIZE, 0, 0.0, "dali",
                               skipped="nvidia-dali is not installed")
        crossed = TransferStats()  # the host batches moved to the device

        def moved(batches):
            for x in batches:
                crossed.add(x)
                yield x.to(device, non_blocking=True)
        if gpu:  # decoded on the device: the JPEG bytes are what crosses
            gen = _rgb_dali_gpu_batches(files, batch_size, threads)
        else:
            gen = moved(dali_rgb_batches(files, batch_size, threads, recipe, out))
        n, el, cpu, ready = _measure(gen, **kw)
        if gpu:  # DALI moves the encoded files itself: their mean size, not a measurement
            nbytes = int(np.mean([os.path.getsize(f) for f in files]))
            source = "computed: the mean JPEG file size"
        else:
            nbytes = crossed.bytes_to_device // max(crossed.samples_to_device, 1)
            source = "measured"
        copy = None if gpu else _copy_ms((batch_size, 3, RGB_SIZE, RGB_SIZE),
                                         torch.float32 if out == "float" else torch.uint8,
                                         device)
        return BenchResult(name, n / el, cpu * 1e3 / n, nbytes, RGB_SIZE, n, el, "dali", copy,
                           ready, bytes_source=source)
    if name in DCT_MASKS:

        identity = ChannelStats(mean=np.zeros(192), std=np.ones(192))  # the same device ops
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reps = max(1, 2000 // max(len(files), 1))  # epochs of >= 2000 images
            loader = DCTLoader([(f, 0) for f in files] * reps, batch_size=batch_size,
                               mask=DCT_MASKS[name], size=(DCT_SIZE, DCT_SIZE),
                               train="-eval" not in name,
                               num_workers=threads, engine=engine, device=device,
                               normalize=False if name.endswith("-i16") else identity,
                               drop_last=True)

        def gen():
            while True:
                yield from loader
        n, el, cpu, ready = _measure(gen(), **kw)
        c = len(ChannelMask.preset(DCT_MASKS[name]))
        copy = _copy_ms((batch_size, c, DCT_SIZE, DCT_SIZE), torch.int16, device)
        return BenchResult(name, n / el, cpu * 1e3 / n, loader.bytes_per_sample, DCT_SIZE * 8,
                           n, el, loader.engine.name, copy, ready)
    raise ValueError(f"unknown pipeline {name!r}; choose from {PIPELINES}")


def run_bench(files, pipelines=PIPELINES, *, repeats: int = 1, on_result=None,
              **kw) -> list[BenchResult]:
    """Each pipeline's result; with ``repeats`` > 1 the pipelines run that many times,
    interleaved (all of them, then all again), and each reports its median run by img/s:
    steadier ratios on a busy machine. ``on_result(result, run)`` hears of each run as it
    finishes."""
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    runs: dict = {name: [] for name in pipelines}
    for run in range(int(repeats)):
        for name in pipelines:
            try:
                runs[name].append(run_pipeline(name, files, **kw))
            except Exception as e:  # a failing pipeline is reported, the others still run
                if name not in DALI_RGB:
                    raise
                runs[name].append(BenchResult(name, math.nan, math.nan, 0, RGB_SIZE, 0, 0.0,
                                              skipped=f"{type(e).__name__}: {e}"))
            if on_result is not None:
                on_result(runs[name][-1], run)
    results = []
    for name in pipelines:
        ran = sorted((r for r in runs[name] if not r.skipped), key=lambda r: r.img_per_s)
        results.append(ran[len(ran) // 2] if ran else runs[name][0])
    return results


def baseline_of(pipeline: str) -> str:
    """The DALI recipe a row is compared with (like with like)."""
    return BASELINE.get(pipeline, DEFAULT_BASELINE)


def speedups(results: list[BenchResult]) -> dict:
    """pipeline -> img/s over its baseline's (nan where the baseline did not run)."""
    rate = {r.pipeline: r.img_per_s for r in results if not r.skipped}
    return {r.pipeline: r.img_per_s / rate.get(baseline_of(r.pipeline), math.nan)
            for r in results if not r.skipped}


def summary_table(results: list[BenchResult]) -> str:
    vs = speedups(results)
    gpu = any(r.copy_ms_per_batch is not None for r in results)
    head = (f"{'pipeline':16s} {'img/s':>8s} {'CPU-ms/img':>10s} {'bytes/sample':>12s} "
            f"{'res':>5s} {'vs uint8 RGB':>12s} {'vs baseline':>11s} {'baseline':16s}")
    if gpu:
        head += f" {'copy ms/batch':>13s} {'ready ms/batch':>14s}"
    lines = [head]
    for r in results:
        if r.skipped:
            lines.append(f"{r.pipeline:16s} skipped: {r.skipped}")
            continue
        ratio, base = vs[r.pipeline], baseline_of(r.pipeline)
        if math.isnan(ratio):  # its baseline was not among the pipelines run
            ratio_text, base = "-", f"{base} (not run)"
        else:
            ratio_text = f"{ratio:.2f}"
        line = (f"{r.pipeline:16s} {r.img_per_s:8.1f} {r.cpu_ms_per_img:10.2f} "
                f"{r.bytes_per_sample:12,d} {r.resolution:5d} {r.bytes_vs_uint8_rgb:12.3f} "
                f"{ratio_text:>11s} {base:16s}")
        if gpu:
            fmt = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
            line += f" {fmt(r.copy_ms_per_batch):>13s} {fmt(r.ready_ms_per_batch):>14s}"
        lines.append(line)
    lines.append("bytes/sample: what crossed host -> device per image, measured from the "
                 "batches; vs uint8 RGB: over 3 x res x res bytes at the same resolution; "
                 "vs baseline: img/s over DALI's own recipe with the same output kind "
                 "(float32 normalised, or int16 vs uint8 before normalisation)")
    for r in results:
        if not r.skipped and r.bytes_source != "measured":
            lines.append(f"  {r.pipeline}: bytes/sample {r.bytes_source}")
    return "\n".join(lines)


#: bar colours of the bench plot: DCT rows, RGB rows
PLOT_COLOURS = {"DCT input (freqload)": (40, 110, 200), "RGB input (baselines)": (200, 90, 40)}


#: the bench plot's panels: (axis label, BenchResult field, value format)
PLOT_PANELS = (("images / s (higher is better)", "img_per_s", "{:.0f}"),
               ("bytes / sample to the device (lower is better)", "bytes_per_sample",
                "{:,.0f}"))


def _kind(r: BenchResult) -> str:
    return "DCT input (freqload)" if r.pipeline.startswith("dct") else "RGB input (baselines)"


def plot(results: list[BenchResult], path, *, title: str = "",
         renderer: str | None = None) -> dict:
    """Two bar charts side by side (img/s, bytes/sample): a title (``title``: the data set,
    batch, threads, device), each panel's axis label, a legend telling DCT rows from RGB
    rows, and skipped pipelines listed as such. ``renderer``: "auto" (matplotlib when
    installed, else Pillow), "matplotlib" or "pillow" (freqload.tools.pictures). Returns what it
    drew: {"title", "panels", "legend", "rows", "skipped", "renderer"}."""
    how = pick_renderer(renderer)
    rows = [r for r in results if not r.skipped]
    skipped = [r for r in results if r.skipped]
    heading = title or "freqload bench"
    (_plot_matplotlib if how == "matplotlib" else _plot_pillow)(rows, skipped, heading, path)
    return {"title": heading, "panels": [p[0] for p in PLOT_PANELS], "legend": list(PLOT_COLOURS),
            "rows": [r.pipeline for r in rows], "skipped": [r.pipeline for r in skipped],
            "renderer": how}


def _plot_pillow(rows, skipped, heading, path) -> None:
    from PIL import Image, ImageDraw

    panel_w, bar_h, gap, left, top = 420, 22, 8, 110, 64
    h = top + len(rows) * (bar_h + gap) + 36 + 16 * len(skipped)
    img = Image.new("RGB", (2 * panel_w + 40, h), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 6), heading, fill="black")
    lx = 10
    for name, colour in PLOT_COLOURS.items():  # the legend
        d.rectangle([lx, 24, lx + 14, 36], fill=colour)
        d.text((lx + 20, 24), name, fill="black")
        lx += 30 + 7 * len(name)
    for p, (label, key, fmt) in enumerate(PLOT_PANELS):
        x0 = 10 + p * (panel_w + 20)
        d.text((x0, 46), label, fill="black")  # the axis: what the bars measure
        vmax = max((getattr(r, key) for r in rows), default=1) or 1
        for i, r in enumerate(rows):
            y = top + i * (bar_h + gap)
            v = getattr(r, key)
            length = int((panel_w - left - 70) * v / vmax)
            d.text((x0, y + 5), r.pipeline, fill="black")
            d.rectangle([x0 + left, y, x0 + left + max(length, 1), y + bar_h],
                        fill=PLOT_COLOURS[_kind(r)])
            d.text((x0 + left + length + 5, y + 5), fmt.format(v), fill="black")
    y = top + len(rows) * (bar_h + gap) + 8
    for r in skipped:
        d.text((10, y), f"{r.pipeline}: skipped ({r.skipped})", fill=(120, 120, 120))
        y += 16
    img.save(path)


def _plot_matplotlib(rows, skipped, heading, path) -> None:
    from matplotlib.patches import Patch

    fig = pictures.mpl_figure(11, 1.6 + 0.35 * max(len(rows), 1) + 0.2 * len(skipped))
    axes = fig.subplots(1, 2, sharey=True)
    names = [r.pipeline for r in rows]
    colours = [tuple(c / 255 for c in PLOT_COLOURS[_kind(r)]) for r in rows]
    for ax, (label, key, fmt) in zip(axes, PLOT_PANELS):
        values = [getattr(r, key) for r in rows]
        bars = ax.barh(names, values, color=colours)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
        ax.set_xlabel(label)
        ax.invert_yaxis()
        ax.margins(x=0.2)
    fig.suptitle(heading)
    fig.legend(handles=[Patch(color=(v[0] / 255, v[1] / 255, v[2] / 255), label=k)
                        for k, v in PLOT_COLOURS.items()], loc="outside upper right", ncols=2)
    if skipped:
        fig.supxlabel("skipped: " + "; ".join(f"{r.pipeline} ({r.skipped})" for r in skipped),
                      color="grey", fontsize=8)
    fig.savefig(path)


def default_dataset(progress=True) -> str:
    """The embedded default data set: synthetic ImageNet-sized JPEGs, made once and cached."""
    return make_jpeg_folder(count=200, progress=progress)


__all__ = ["PIPELINES", "BenchResult", "run_pipeline", "run_bench", "summary_table", "plot",
           "default_dataset"]
