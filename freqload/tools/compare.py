"""``freqload compare``: does a DCT-input model reach the RGB model's accuracy on your
data, and at what cost?

One model family (``arch``, from :mod:`freqload.models`) is trained twice per seed: on
DCTLoader batches (``arch + "_dct"``: no stem, the masked frequency channels enter the
body) and on RGBLoader batches (``arch``: the RGB stem, 7x7/2 convolution and max-pool
for ResNets). Everything else is the same: optimiser (SGD, momentum 0.9, Nesterov,
weight decay), a cosine learning-rate schedule per step, epochs, batch size, seeds (the
model's initial weights, the sample order, and the augmentation draws), and the
augmentation itself: both loaders draw the same RandomResizedCrop boxes and flips from
the same keys, so the two variants see the same parts of the same pictures.

The pairing rule: equal input bytes per sample. A DCT sample is C channels of s x s
blocks as int16 (``2 C s^2`` bytes); an RGB sample is 3 x r x r uint8 pixels
(``3 r^2`` bytes). So ``r = round(s * sqrt(2 C / 3))``: s = 28 blocks of dctnet24 (24
channels) pairs with r = 112 pixels, both 37,632 bytes. :func:`paired_rgb_size` computes
it; ``rgb_size=`` overrides it. (What each loader actually moves to the device is
reported too: DCTLoader the int16 channels; RGBLoader uint8 pixels with its DALI engine,
the default where DALI is installed, or float32 with its torch engine, 4 bytes each.)
The RGB variant's loader is the strongest CPU one a user would pick: DALI's decoder
(region-of-interest decoding) and resize on DALI's threads, on DCTLoader's boxes.

With ``gate=True`` the paper's dynamic selection runs end to end: a model with a
:class:`~freqload.models.gate.FrequencyGate` on all 192 channels is trained with the gate loss
(``gate_weight`` per open channel: ``gate_weight * 192 * gate_loss``, the mean number of
open channels per sample) on the first seed; its gates' mean open probability over the
training pictures (centre crops, eval mode) is collected as
:class:`~freqload.models.gate.GateStats`; the k most open channels (``gate_k``, default the
mask's size) become a mask (:func:`~freqload.models.gate.mask_from_gate_stats`), which is
trained on every seed like the preset, and reported beside it and RGB. The gate starts
open with probability 0.73 and learns at ``gate_lr_scale`` x the learning rate without
weight decay: small data sets give it a few hundred steps, and with the body's learning
rate it barely moves from where it starts (on the ants/bees set every channel ended
within 0.949-0.952 open). Even so, on small sets the learned ranking is weakly
determined; the paper learned it on ImageNet.

:func:`compare` returns a report (a JSON-ready dict), :func:`table` formats it and
:func:`plot` draws the validation accuracy per epoch (mean over seeds, the band from the
lowest to the highest seed).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..codec.augment import as_augment
from ..codec.mask import PRESETS, ChannelMask, as_mask
from ..codec.recipe import Recipe
from ..data.destination import atomic_write
from ..data.sources import resolve_source
from ..loading.dct_loader import DCTLoader
from ..loading.device import resolve_device
from ..loading.rgb_loader import RGBLoader
from ..loading.sampler import default_workers
from ..loading.stats import compute_channel_stats
from ..models import CONFIGS, create_model
from ..models.gate import FrequencyGate, GateStats, gate_loss, mask_from_gate_stats
from ..progress import Progress
from . import pictures
from .cpu_time import cpu_seconds
from .pictures import gate_heatmap, pick_renderer

#: the report's format tag
FORMAT = "freqload-compare/1"


def paired_rgb_size(size: int, channels: int) -> int:
    """The RGB side r (pixels) whose uint8 sample (3 r^2 bytes) matches a DCT sample of
    ``channels`` int16 channels on ``size`` x ``size`` blocks (2 C s^2 bytes):
    round(s * sqrt(2 C / 3)). 28 blocks x 24 channels -> 112 pixels."""
    return max(1, int(round(size * math.sqrt(2 * channels / 3))))


def input_bytes(kind: str, size: int, channels: int = 3) -> int:
    """Bytes per sample of the pairing rule: "dct" 2 C s^2 (int16), "rgb" 3 r^2 (uint8)."""
    return 2 * channels * size * size if kind == "dct" else 3 * size * size


@dataclasses.dataclass
class Variant:
    """One input kind to train: name, "dct" or "rgb", side (blocks or pixels), the grid
    channels (dct), and whether a FrequencyGate sits in front of the model."""
    name: str
    input: str
    size: int
    channels: list | None = None
    gated: bool = False

    @property
    def grid_channels(self) -> list:
        """The DCT variant's channels (ValueError for an RGB variant)."""
        if self.channels is None:
            raise ValueError(f"variant {self.name} has no DCT channels")
        return self.channels

    @property
    def bytes(self) -> int:
        return input_bytes(self.input, self.size, len(self.channels or ()) or 3)

    def describe(self) -> str:
        if self.input == "rgb":
            return f"RGB 3x{self.size}x{self.size} px"
        what = f"{len(self.grid_channels)} ch" + (" gated" if self.gated else "")
        return f"DCT {what}, {self.size}x{self.size} blocks"


class GatedModel(nn.Module):
    """A FrequencyGate in front of a DCT model: x ``[B, C, H, W]`` -> (logits
    ``[B, classes]``, gates ``[B, C]``)."""

    def __init__(self, gate: nn.Module, body: nn.Module):
        super().__init__()
        self.gate, self.body = gate, body

    def forward(self, x):
        x, gates = self.gate(x)
        return self.body(x), gates


def check_arch(arch: str) -> None:
    """``arch`` must name a family of freqload.models with both inputs (ARCH and
    ARCH_dct); ValueError listing them otherwise."""
    if arch not in CONFIGS or arch + "_dct" not in CONFIGS:
        both = sorted(n for n in CONFIGS if n + "_dct" in CONFIGS)
        raise ValueError(f"--arch {arch}: the model families with both inputs are "
                         f"{', '.join(both)}")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Experiment:
    """The shared settings, the data and the loaders of one comparison."""

    def __init__(self, train, val, *, arch, epochs, batch_size, lr, weight_decay, device,
                 engine, rgb_engine, num_workers, gate_weight, gate_lr_scale, stats_images,
                 progress, on_error, augment=None, dct_size=28):

        check_arch(arch)
        self.train_src, self.val_src = resolve_source(train), resolve_source(val)
        for what, path, src in (("train", train, self.train_src), ("val", val, self.val_src)):
            if not src.classes:
                raise ValueError(f"the {what} folder {os.fspath(path)} has no class "
                                 "sub-folders (an ImageFolder: one folder per class)")
        if tuple(self.train_src.classes) != tuple(self.val_src.classes):
            raise ValueError(f"train and val have different classes: "
                             f"{list(self.train_src.classes)} vs {list(self.val_src.classes)}")
        self.train, self.val = train, val
        self.arch, self.epochs, self.batch_size = arch, int(epochs), int(batch_size)
        self.lr, self.weight_decay, self.gate_weight = float(lr), float(weight_decay), \
            float(gate_weight)
        self.device = resolve_device(device)
        self.engine, self.rgb_engine, self.on_error = engine, rgb_engine, on_error
        self.augment = as_augment(augment)  # training samples only, both variants
        self.dct_size = int(dct_size)
        self.gate_lr_scale = float(gate_lr_scale)
        self.num_workers = default_workers() if num_workers is None else int(num_workers)
        self.progress = progress
        self.classes = list(self.train_src.classes)
        # the DCT inputs' normalisation: per-channel statistics of the training pictures
        self.stats = compute_channel_stats(list(self.train_src.paths), max_images=stats_images,
                                           progress=progress)

    def loader(self, v: Variant, *, train: bool, seed: int, source=None):
        src = source or (self.train if train else self.val)
        common = dict(batch_size=self.batch_size, train=train, seed=seed, device=self.device,
                      num_workers=self.num_workers)
        augment = self.augment if train else None
        if v.input == "rgb":
            # the DCT side's draws, made for its grid's pixels: the same ops on the same
            # samples, translations scaled to the RGB picture
            side = 8 * self.dct_size
            rgb = RGBLoader(src, size=v.size, engine=self.rgb_engine, augment=augment, **common)
            rgb.samples.augment_size = (side, side)
            return rgb
        recipe = Recipe(ChannelMask(v.grid_channels), (v.size, v.size),
                        transform="train" if train else "eval", augment=augment)
        return DCTLoader(src, recipe, normalize=self.stats, engine=self.engine,
                         on_error=self.on_error, **common)

    def model(self, v: Variant) -> nn.Module:
        k = len(self.classes)
        if v.input == "rgb":
            return create_model(self.arch, num_classes=k)
        body = create_model(self.arch + "_dct", mask=ChannelMask(v.grid_channels), num_classes=k)
        if v.gated:
            # starts open with p = 0.73 (logit margin 1), where its gradients are not small
            return GatedModel(FrequencyGate(len(v.grid_channels), open_bias=1.0), body)
        return body

    def loader_speed(self, v: Variant) -> dict:
        """One training epoch of the loader alone (no model): img/s timed from the second
        batch on, and the bytes per sample it moved to the device."""
        ld = self.loader(v, train=True, seed=0)
        n, t0 = 0, None
        for x, _ in ld:
            if t0 is None:
                t0 = time.perf_counter()
            else:
                n += x.shape[0]
        dt = time.perf_counter() - t0 if t0 is not None else 0.0
        crossed = ld.stats.bytes_to_device / max(ld.stats.samples_to_device, 1)
        engine = ld.engine.name if v.input == "dct" else {
            "dali": "dali (DALI's decoder and resize, uint8)",
            "torch": "torch (Pillow in DataLoader workers, float32)"}[ld.engine_name]
        return {"loader_img_per_s": n / dt if dt > 0 and n else None,
                "crossed_bytes": int(round(crossed)), "loader": engine}

    def run(self, v: Variant, seed: int, gate_stats=None) -> dict:
        """Train ``v`` with ``seed``; validation top-1 after every epoch. ``gate_stats``
        (a GateStats over v's channels), for a gated model, is filled afterwards with
        the gates' mean open probability over the training pictures."""

        torch.manual_seed(seed)
        model = self.model(v).to(self.device)
        train = self.loader(v, train=True, seed=seed)
        val = self.loader(v, train=False, seed=seed)
        groups: list[dict[str, Any]] = [{"params": [p for n, p in model.named_parameters()
                                                    if not n.startswith("gate.")]}]
        if v.gated:  # the gate learns faster, undecayed (a few hundred steps on small sets)
            gate = cast(GatedModel, model).gate
            groups.append({"params": list(gate.parameters()), "weight_decay": 0.0,
                           "lr": self.lr * self.gate_lr_scale})
        opt = torch.optim.SGD(groups, lr=self.lr, momentum=0.9, nesterov=True,
                              weight_decay=self.weight_decay)
        steps = max(1, self.epochs * len(train))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
        top1, losses, opened = [], [], []
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        with Progress(steps, f"{v.name} seed {seed}", self.progress) as bar:
            for epoch in range(self.epochs):
                model.train()
                # sums kept on the device: no synchronisation per step
                total = torch.zeros((), device=self.device)
                open_sum = torch.zeros((), device=self.device)
                seen = 0
                for x, y in train:
                    out = model(x)
                    if v.gated:
                        out, gates = out
                        g = gate_loss(gates)
                        # gate_weight per open channel: x the mean number open per sample
                        loss = F.cross_entropy(out, y) + self.gate_weight * gates.shape[1] * g
                        open_sum += g.detach() * y.shape[0]
                    else:
                        loss = F.cross_entropy(out, y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += loss.detach() * y.shape[0]
                    seen += y.shape[0]
                    bar.update()
                losses.append(total.item() / max(seen, 1))
                top1.append(self.evaluate(model, val, v.gated))
                if v.gated:
                    opened.append(open_sum.item() / max(seen, 1))
                _log(f"{v.name} seed {seed} epoch {epoch + 1}/{self.epochs}: train loss "
                     f"{losses[-1]:.4f}, val top-1 {top1[-1]:.2f}%"
                     + (f", gates open {opened[-1]:.1%}" if v.gated else ""))
        out = {"seed": seed, "top1": top1, "loss": losses,
               "wall_s": time.perf_counter() - wall0, "cpu_s": cpu_seconds() - cpu0}
        if v.gated:
            out["open_fraction"] = opened
            if gate_stats is not None:
                self.collect_gates(model, v, gate_stats)
        return out

    @torch.no_grad()
    def evaluate(self, model, loader, gated: bool) -> float:
        model.eval()
        correct = total = 0
        for x, y in loader:
            out = model(x)
            if gated:
                out = out[0]
            correct += int((out.argmax(1) == y).sum())
            total += y.shape[0]
        return 100.0 * correct / max(total, 1)

    @torch.no_grad()
    def collect_gates(self, model, v: Variant, stats) -> None:
        """The gate's open probability (softmax of its two logits) per channel, over the
        training pictures' centre crops, in eval mode: a ranking without ties."""
        model.eval()
        for x, _ in self.loader(v, train=False, seed=0, source=self.train):
            stats.update(model.gate.gate_logits(x).softmax(-1)[..., 1])


def _summary(runs: list[dict]) -> dict:
    def ms(values):
        a = np.asarray(values, dtype=np.float64)
        return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0

    final = [r["top1"][-1] for r in runs]
    best = [max(r["top1"]) for r in runs]
    out = {}
    out["final_top1_mean"], out["final_top1_std"] = ms(final)
    out["best_top1_mean"], out["best_top1_std"] = ms(best)
    out["wall_s_mean"] = float(np.mean([r["wall_s"] for r in runs]))
    out["cpu_s_mean"] = float(np.mean([r["cpu_s"] for r in runs]))
    return out


def compare(train, val, *, arch: str = "resnet_mini", epochs: int = 10,
            seeds: Sequence[int] = (0, 1, 2), size: int = 28, mask="dctnet24",
            rgb_size: int | None = None, batch_size: int = 32, lr: float = 0.05,
            weight_decay: float = 5e-4, device=None, engine: str = "auto",
            rgb_engine: str = "auto", augment=None,
            num_workers: int | None = None, gate: bool = False,
            gate_k: int | None = None, gate_weight: float = 0.003,
            gate_lr_scale: float = 20.0,
            out_dir: str | None = None, stats_images: int = 500,
            progress: bool | None = None, renderer: str | None = None,
            on_error: str = "fallback",
            on_variant: Callable[[dict, dict], None] | None = None) -> dict:
    """Train the DCT and the RGB variant of ``arch`` on ``train`` (an ImageFolder) and
    validate on ``val`` after every epoch, once per seed.

    Args:
        size: the DCT grid side in blocks (the RGB side follows from the pairing rule,
            :func:`paired_rgb_size`, unless ``rgb_size`` is given).
        mask: the DCT variant's channels (preset, file or ChannelMask).
        seeds: one training run per seed and variant (weights, order, augmentation).
        gate: also train a FrequencyGate model on all 192 channels (first seed), derive
            a ``gate_k``-channel mask from it (default: as many as ``mask``) and train
            that mask on every seed; writes ``gate_stats.json``, ``learned_mask.json``
            and ``gate_heatmap.png`` into ``out_dir`` (required with ``gate``).
        engine, num_workers, device: the loaders' (device also the model's).
        rgb_engine: RGBLoader's engine: "auto" (default: "dali" where DALI is installed,
            DALI's decoder and resize on the same boxes, uint8 crossing: the strongest CPU
            baseline), "dali" or "torch" (Pillow in DataLoader workers).
        augment: a policy for the training samples of both variants ("trivialaugment",
            "randaugment" or a policy object, :mod:`freqload.codec.policy`): the DCT side
            in the core (``Recipe(augment=...)``), the RGB side torchvision's ops on PIL
            images (:mod:`freqload.loading.pixel_policy`) with the same draws per sample,
            translations scaled to its size. The RGB side then runs on the torch engine
            (Pillow), DALI's taking no per-sample ops of ours.
        on_error: DCTLoader's policy for files it cannot decode as JPEG (default
            "fallback": decoded from pixels by Pillow, as the RGB loader reads them, so
            both variants see the same pictures; a GIF in a data set is common).
        on_variant: ``on_variant(entry, report)`` after each variant: its entry and the
            report so far (the command line saves it, so an interruption loses only the
            variant in progress).

    Returns the report (JSON-ready): "format", "settings", "pairing", "variants" (per
    variant: name, input, size, channels, input_bytes, crossed_bytes, loader_img_per_s,
    loader (the engine that ran), the summary over seeds - final_top1_mean/std,
    best_top1_mean/std, wall_s_mean, cpu_s_mean - and "runs": per seed top1 and loss per
    epoch, wall_s, cpu_s), and with ``gate`` a "gate" entry (its files, k, weight,
    lr_scale, seed, the learned channels, each channel's mean open probability).
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    if epochs < 1 or batch_size < 1 or size < 1:
        raise ValueError("epochs, batch_size and size must be >= 1")
    if gate and not out_dir:
        raise ValueError("gate=True writes its statistics, mask and heatmap: give out_dir")
    m = as_mask(mask)
    c = len(m.indices)
    rgb = int(rgb_size) if rgb_size else paired_rgb_size(size, c)
    ex = _Experiment(train, val, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr,
                     weight_decay=weight_decay, device=device, engine=engine,
                     rgb_engine=rgb_engine,
                     num_workers=num_workers, gate_weight=gate_weight,
                     gate_lr_scale=gate_lr_scale, stats_images=stats_images,
                     progress=progress, on_error=on_error, augment=augment, dct_size=size)
    report: dict[str, Any] = {
        "format": FORMAT,
        "settings": {"train": os.fspath(train), "val": os.fspath(val), "arch": arch,
                     "epochs": epochs, "seeds": seeds, "batch_size": batch_size, "lr": lr,
                     "weight_decay": weight_decay, "optimizer": "SGD momentum 0.9 nesterov, "
                     "cosine per step", "device": str(ex.device), "engine": engine,
                     "rgb_engine": rgb_engine, "on_error": on_error,
                     "augment": None if ex.augment is None else repr(list(ex.augment)),
                     "num_workers": ex.num_workers, "classes": ex.classes,
                     "train_images": len(ex.train_src.paths),
                     "val_images": len(ex.val_src.paths)},
        "pairing": {"rule": "equal input bytes per sample: DCT int16 2*C*s^2 = RGB uint8 "
                            "3*r^2, r = round(s*sqrt(2C/3))",
                    "dct_size_blocks": size, "dct_channels": c,
                    "dct_bytes": input_bytes("dct", size, c),
                    "rgb_size_px": rgb, "rgb_bytes": input_bytes("rgb", rgb),
                    "rgb_size_overridden": bool(rgb_size)},
        "variants": [],
    }
    name = next((p for p in PRESETS if ChannelMask.preset(p) == m),
                "all" if c == 192 else f"mask{c}")
    variants = [Variant(f"dct-{name}", "dct", size, list(m.indices)),
                Variant("rgb", "rgb", rgb)]
    if gate:
        variants.append(Variant("dct-gated192", "dct", size, list(range(192)), gated=True))

    def finish(v: Variant, runs: list[dict]) -> None:
        entry = {"name": v.name, "input": v.input, "describe": v.describe(), "size": v.size,
                 "channels": v.channels, "gated": v.gated, "input_bytes": v.bytes,
                 **ex.loader_speed(v), **_summary(runs), "runs": runs}
        report["variants"].append(entry)
        if on_variant is not None:
            on_variant(entry, report)

    for v in variants:
        if v.gated:

            stats = GateStats(list(range(192)))
            finish(v, [ex.run(v, seeds[0], gate_stats=stats)])
            k = int(gate_k or c)
            learned = mask_from_gate_stats(stats, k)
            folder = cast(str, out_dir)  # required with gate (checked above)
            os.makedirs(folder, exist_ok=True)
            files = {"gate_stats": os.path.join(folder, "gate_stats.json"),
                     "mask": os.path.join(folder, "learned_mask.json"),
                     "heatmap": os.path.join(folder, "gate_heatmap.png")}
            stats.save(files["gate_stats"])
            learned.save(files["mask"])
            gate_heatmap(stats, files["heatmap"], mask=learned, renderer=renderer)
            report["gate"] = {"k": k, "weight": gate_weight, "lr_scale": gate_lr_scale,
                              "seed": seeds[0],
                              "channels": list(learned.indices), "files": files,
                              "open_probability": [float(f) for f in stats.frequency]}
            lv = Variant(f"dct-learned{k}", "dct", size, list(learned.indices))
            finish(lv, [ex.run(lv, s) for s in seeds])
        else:
            finish(v, [ex.run(v, s) for s in seeds])
    return report


def _pm(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {std:.1f}"


def _opt(v, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def table(report: dict) -> str:
    """The report as a text table: one row per variant (final and best validation top-1
    as mean ± standard deviation over seeds, %, wall and CPU seconds per run, the loader's
    img/s alone, input bytes per sample by the pairing rule and what crossed)."""
    st, pr = report["settings"], report["pairing"]
    lines = [f"freqload compare: {st['arch']}, {st['epochs']} epochs, "
             f"{len(st['seeds'])} seed(s), batch {st['batch_size']}, device {st['device']}; "
             f"{st['train_images']} train / {st['val_images']} val images, "
             f"{len(st['classes'])} classes"
             + (f"; augment {st['augment']} on the training samples of both variants"
                if st.get("augment") else ""),
             f"pairing: DCT {pr['dct_size_blocks']}x{pr['dct_size_blocks']} blocks x "
             f"{pr['dct_channels']} channels int16 = {pr['dct_bytes']:,} B; RGB "
             f"{pr['rgb_size_px']}x{pr['rgb_size_px']} x 3 uint8 = {pr['rgb_bytes']:,} B"
             + (" (--rgb-size)" if pr["rgb_size_overridden"] else
                " (r = round(s*sqrt(2C/3)))"),
             ""]
    head = (f"{'variant':16s} {'input':30s} {'seeds':>5s} {'final top-1 %':>14s} "
            f"{'best top-1 %':>14s} {'wall s':>8s} {'CPU s':>8s} {'loader img/s':>12s} "
            f"{'input B':>9s} {'crossed B':>10s}")
    lines += [head, "-" * len(head)]
    for v in report["variants"]:
        lines.append(
            f"{v['name']:16s} {v['describe']:30s} {len(v['runs']):5d} "
            f"{_pm(v['final_top1_mean'], v['final_top1_std']):>14s} "
            f"{_pm(v['best_top1_mean'], v['best_top1_std']):>14s} {v['wall_s_mean']:8.1f} "
            f"{v['cpu_s_mean']:8.1f} {_opt(v['loader_img_per_s'], '{:.0f}'):>12s} "
            f"{v['input_bytes']:9,d} {v['crossed_bytes']:10,d}")
    lines.append("")
    lines.append("loaders: " + ", ".join(f"{v['name']} {v['loader']}"
                                         for v in report["variants"]))
    lines.append("top-1: mean ± standard deviation over seeds; wall/CPU s: mean per run "
                 "(training and validation, CPU of this process and its workers); loader "
                 "img/s: one training epoch of the loader alone")
    if "gate" in report:
        g = report["gate"]
        lines.append(f"gate: trained on all 192 channels (seed {g['seed']}, gate weight "
                     f"{g['weight']} per open channel, gate lr x{g['lr_scale']}); the "
                     f"{g['k']} most open channels -> "
                     f"{g['files']['mask']} (heatmap {g['files']['heatmap']})")
    return "\n".join(lines)


#: line colours of the accuracy plot, by variant kind
_COLOURS = {"dct": (40, 110, 200), "rgb": (200, 90, 40), "gated": (120, 120, 120),
            "learned": (40, 160, 90)}


def _colour(v: dict) -> tuple:
    if v["input"] == "rgb":
        return _COLOURS["rgb"]
    if v["gated"]:
        return _COLOURS["gated"]
    return _COLOURS["learned"] if v["name"].startswith("dct-learned") else _COLOURS["dct"]


def plot(report: dict, path, *, renderer: str | None = None) -> dict:
    """Validation top-1 per epoch, one line per variant (the mean over seeds) and a band
    from the lowest to the highest seed; a title with the settings, axis labels, a
    legend. ``renderer``: "auto", "matplotlib" or "pillow" (freqload.tools.pictures). Returns
    what it drew: {"title", "xlabel", "ylabel", "legend", "bands", "renderer"}."""
    how = pick_renderer(renderer)
    st = report["settings"]
    title = (f"freqload compare: {st['arch']}, {len(st['seeds'])} seed(s), "
             f"{st['train_images']} train / {st['val_images']} val images")
    curves = []
    for v in report["variants"]:
        acc = np.asarray([r["top1"] for r in v["runs"]], dtype=np.float64)  # [seeds, epochs]
        curves.append((f"{v['name']} ({v['describe']})", _colour(v), acc.mean(0), acc.min(0),
                       acc.max(0)))
    xlabel, ylabel = "epoch", "validation top-1 (%)"
    (_plot_matplotlib if how == "matplotlib" else _plot_pillow)(curves, title, xlabel, ylabel,
                                                                path)
    return {"title": title, "xlabel": xlabel, "ylabel": ylabel,
            "legend": [c[0] for c in curves],
            "bands": [bool((c[4] > c[3]).any()) for c in curves], "renderer": how}


def _plot_matplotlib(curves, title, xlabel, ylabel, path) -> None:
    fig = pictures.mpl_figure(8, 4.8)
    ax = fig.subplots()
    for label, colour, mean, low, high in curves:
        x = np.arange(1, len(mean) + 1)
        rgb = tuple(c / 255 for c in colour)
        ax.plot(x, mean, color=rgb, label=label, marker="o", ms=3)
        ax.fill_between(x, low, high, color=rgb, alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="line: mean over seeds; band: lowest to highest",
              title_fontsize=8)
    fig.savefig(path)


def _plot_pillow(curves, title, xlabel, ylabel, path) -> None:
    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 760, 460, 60, 20, 40, 60 + 16 * len(curves)
    img = Image.new("RGB", (w, h + 16 * len(curves)), "white")
    d = ImageDraw.Draw(img)
    d.text((10, 8), title, fill="black")
    epochs = max(len(c[2]) for c in curves)
    lo = min(float(c[3].min()) for c in curves)
    hi = max(float(c[4].max()) for c in curves)
    lo, hi = math.floor(lo / 10) * 10, max(math.ceil(hi / 10) * 10, math.floor(lo / 10) * 10 + 10)
    x0, y0, x1, y1 = left, top, w - right, h - bottom + 16 * len(curves) - 30

    def px(e, a):
        return (x0 + (x1 - x0) * ((e - 1) / max(epochs - 1, 1)),
                y1 - (y1 - y0) * ((a - lo) / (hi - lo)))

    d.rectangle([x0, y0, x1, y1], outline="black")
    for t in np.linspace(lo, hi, 5):
        y = px(1, t)[1]
        d.line([x0 - 4, y, x0, y], fill="black")
        d.text((x0 - 40, y - 6), f"{t:.0f}", fill="black")
    for e in range(1, epochs + 1):
        x = px(e, lo)[0]
        d.line([x, y1, x, y1 + 4], fill="black")
        d.text((x - 4, y1 + 6), str(e), fill="black")
    d.text(((x0 + x1) // 2 - 20, y1 + 22), xlabel, fill="black")
    d.text((4, y0 - 16), ylabel, fill="black")
    for label, colour, mean, low, high in curves:  # bands first, lines over them
        pale = tuple(int(255 - 0.25 * (255 - c)) for c in colour)
        poly = [px(e + 1, a) for e, a in enumerate(high)] + \
            [px(e + 1, a) for e, a in reversed(list(enumerate(low)))]
        if len(poly) > 2:
            d.polygon(poly, fill=pale)
    for k, (label, colour, mean, low, high) in enumerate(curves):
        pts = [px(e + 1, a) for e, a in enumerate(mean)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for p in pts:
            d.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=colour)
        ly = y1 + 40 + 16 * k
        d.rectangle([x0, ly + 2, x0 + 14, ly + 10], fill=colour)
        d.text((x0 + 20, ly), label, fill="black")
    d.text((x0 + 380, y1 + 22), "line: mean over seeds; band: lowest to highest",
           fill=(120, 120, 120))
    img.save(path)


def save_json(report: dict, path) -> None:
    """Write the report as JSON (atomically)."""
    atomic_write(os.fspath(path), (json.dumps(report, indent=1) + "\n").encode())


__all__ = ["compare", "table", "plot", "save_json", "paired_rgb_size", "input_bytes",
           "Variant", "GatedModel", "FORMAT"]
