#!/usr/bin/env python
"""ImageNet training with DCT input (freqload.DCTLoader) or RGB input (freqload.RGBLoader).

    torchrun --nproc_per_node=8 examples/imagenet/train.py --data /imagenet \\
        --input dct --mask dctnet24 --arch resnet50_dct --output-dir runs/dct24
    torchrun --nproc_per_node=8 examples/imagenet/train.py --data /imagenet \\
        --input rgb --arch resnet50 --output-dir runs/rgb

--data holds ImageFolder-style train/ and val/ (sorted class folders). One process per
device; torchrun's environment selects NCCL on GPUs and gloo on CPUs. Each rank reads its
shard (DCTLoader/RGBLoader shard by torch.distributed rank). SGD with momentum, linear
warm-up then cosine decay per step, weight decay (not on BatchNorm or biases), label
smoothing, AMP (bfloat16) and channels_last on GPUs. A checkpoint is written at every
epoch end (and when --max-steps stops a run): --resume PATH continues from it, at the
same step, with the same data order; the loaders' states (loader.state_dict()) in it make
a mid-epoch resume start at the next batch without reading the ones already trained on.
Metrics (loss, top-1/top-5, img/s) are reduced over
ranks, printed by rank 0 and appended to OUTPUT_DIR/metrics.jsonl.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
from torch import nn

import freqload
from freqload.models import CONFIGS, MODELS, create_model


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with train/ and val/")
    ap.add_argument("--arch", default=None,
                    help=f"one of {sorted(MODELS)} (default resnet50_dct / resnet50)")
    ap.add_argument("--input", choices=("dct", "rgb"), default="dct")
    ap.add_argument("--mask", default="dctnet24", help="DCT channels (preset, file, list)")
    ap.add_argument("--image-size", type=int, default=None,
                    help="pixels: DCT grid = size/8 blocks (default 448 DCT, 224 RGB)")
    ap.add_argument("--stats", help="freqload stats file to normalise DCT channels with "
                    "(default: OUTPUT_DIR/stats.json, computed from 500 train images if absent)")
    ap.add_argument("--batch-size", type=int, default=64, help="per process")
    ap.add_argument("--epochs", type=int, default=90)
    ap.add_argument("--max-steps", type=int, default=None,
                    help="stop after this many steps (the schedule still follows --epochs, so "
                         "a --resume continues exactly as an uninterrupted run)")
    ap.add_argument("--lr", type=float, default=0.1, help="for a global batch of 256 (scaled)")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--warmup-epochs", type=float, default=5.0)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--layer2-stride", type=int, default=2,
                    help="DCT ResNets: 2 standard FLOPs, 1 as DCTNet's ResNet-50")
    ap.add_argument("--workers", type=int, default=None, help="decode threads per process")
    ap.add_argument("--engine", default="auto",
                    help="the loader's engine: auto, dali, torch (RGB input: dali is DALI's "
                         "decoder and resize on the same boxes, torch is Pillow)")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    ap.add_argument("--no-amp", action="store_true", help="no mixed precision on GPU")
    ap.add_argument("--output-dir", required=True, help="checkpoints and metrics.jsonl")
    ap.add_argument("--resume", help="checkpoint to continue from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-freq", type=int, default=50)
    ap.add_argument("--eval-batches", type=int, default=None, help="limit evaluation (smoke)")
    args = ap.parse_args(argv)
    if args.arch is None:
        args.arch = "resnet50_dct" if args.input == "dct" else "resnet50"
    if args.arch not in MODELS:
        ap.error(f"--arch must be one of {sorted(MODELS)}")
    if args.input != CONFIGS[args.arch].input:  # the model's config says what it reads
        ap.error(f"--input {args.input} needs a{' _dct' if args.input == 'dct' else 'n RGB'} "
                 f"--arch, got {args.arch}")
    if args.image_size is None:
        args.image_size = 448 if args.input == "dct" else 224
    if args.input == "dct" and args.image_size % 8:
        ap.error("--image-size must be a multiple of 8 for DCT input")
    return args


def setup_distributed(device_arg):
    """(rank, world, device): torchrun's environment, NCCL on GPUs, gloo on CPUs."""
    want_cuda = device_arg != "cpu" and torch.cuda.is_available()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if want_cuda:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if want_cuda else "gloo")
    return rank, world, device


def ensure_stats(args, train_dir, main_rank):
    """DCT input without --stats: per-channel statistics of a seeded sample of the train
    set, computed once by rank 0 into OUTPUT_DIR/stats.json (kept for --resume)."""
    if args.input != "dct" or args.stats:
        return
    path = os.path.join(args.output_dir, "stats.json")
    if main_rank and not os.path.exists(path):
        from freqload.data.sources import resolve_source

        print(f"computing channel statistics of {train_dir} into {path} "
              f"(pass --stats to reuse a file)", file=sys.stderr, flush=True)
        freqload.compute_channel_stats(resolve_source(train_dir).paths, max_images=500,
                                       seed=args.seed).save(path)
    if dist.is_initialized():
        dist.barrier()
    args.stats = path


def make_loaders(args, device, train_dir, val_dir):
    common = dict(batch_size=args.batch_size, seed=args.seed, device=device)
    if args.input == "dct":
        blocks = args.image_size // 8
        kw = dict(common, mask=args.mask, size=(blocks, blocks), num_workers=args.workers,
                  engine=args.engine, normalize=args.stats, on_error="skip")
        train = freqload.DCTLoader(train_dir, train=True, drop_last=True, **kw)
        val = freqload.DCTLoader(val_dir, train=False, **kw) if val_dir else None
    else:
        from freqload.loading.rgb_loader import RGBLoader

        kw = dict(common, size=args.image_size, num_workers=args.workers, engine=args.engine)
        train = RGBLoader(train_dir, train=True, drop_last=True, **kw)
        val = RGBLoader(val_dir, train=False, **kw) if val_dir else None
    return train, val


def param_groups(model, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)  # BatchNorm weights and biases
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def reduce_sum(values, device):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(t)
    return t.tolist()


def evaluate(model, loader, device, amp, max_batches=None):
    model.eval()
    n = top1 = top5 = loss = 0.0
    with torch.no_grad():
        for b, (x, y) in enumerate(loader):
            if max_batches is not None and b >= max_batches:
                break
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(x)
            loss += float(nn.functional.cross_entropy(out.float(), y, reduction="sum"))
            k = min(5, out.shape[1])
            pred = out.topk(k, 1).indices
            hit = pred.eq(y[:, None])
            top1 += float(hit[:, :1].sum())
            top5 += float(hit.any(1).sum())
            n += len(y)
    n, top1, top5, loss = reduce_sum([n, top1, top5, loss], device)
    model.train()
    return {"val_loss": loss / max(n, 1), "top1": 100 * top1 / max(n, 1),
            "top5": 100 * top5 / max(n, 1), "val_images": int(n)}


def loader_states(loader):
    """Every rank's loader.state_dict() (each rank reads its own part of the data), in
    rank order: what a checkpoint keeps so --resume continues mid-epoch exactly."""
    state = loader.state_dict()
    if not dist.is_initialized():
        return [state]
    states = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def save_checkpoint(path, model, opt, sched, epoch, step, loaders, args):
    tmp = f"{path}.tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "epoch": epoch, "step": step,
                "loader": loaders, "args": vars(args)}, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.device)
    torch.manual_seed(args.seed + rank)
    main_rank = rank == 0
    os.makedirs(args.output_dir, exist_ok=True)
    log_path = os.path.join(args.output_dir, "metrics.jsonl")

    def log(record):
        if main_rank:
            print(json.dumps(record), flush=True)
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    train_dir = os.path.join(args.data, "train")
    val_dir = os.path.join(args.data, "val")
    val_dir = val_dir if os.path.isdir(val_dir) else None
    ensure_stats(args, train_dir, main_rank)
    train, val = make_loaders(args, device, train_dir, val_dir)
    classes = len(train.dataset.classes)
    if args.input == "dct":
        model = create_model(args.arch, mask=args.mask, num_classes=classes,
                             **({"layer2_stride": args.layer2_stride}
                                if args.arch.startswith("resnet") else {}))
    else:
        model = create_model(args.arch, num_classes=classes)
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    ddp = nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None) \
        if dist.is_initialized() else model
    amp = device.type == "cuda" and not args.no_amp

    global_batch = args.batch_size * world
    opt = torch.optim.SGD(param_groups(model, args.weight_decay),
                          lr=args.lr * global_batch / 256, momentum=args.momentum)
    steps_per_epoch = len(train)
    if steps_per_epoch == 0:
        raise SystemExit("train/ holds fewer images than one global batch")
    total = args.epochs * steps_per_epoch  # the schedule's length
    stop = min(total, args.max_steps) if args.max_steps else total
    warmup = min(int(args.warmup_epochs * steps_per_epoch), max(total - 1, 0))

    def lr_factor(step):
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    epoch, step, skip = 0, 0, 0
    if args.resume:
        ck = torch.load(args.resume, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        epoch, step = ck["epoch"], ck["step"]
        if "loader" in ck:  # the loader continues where it stopped, reading nothing twice
            states = ck["loader"]
            if len(states) != world:
                raise SystemExit(f"--resume: the checkpoint is of {len(states)} processes, "
                                 f"this run has {world}")
            train.load_state_dict(states[rank])
        else:  # a checkpoint of an older version: replay the epoch's first batches
            skip = ck["batch_in_epoch"]
        log({"event": "resumed", "from": args.resume, "epoch": epoch, "step": step})
    log({"event": "start", "arch": args.arch, "input": args.input, "mask": args.mask
         if args.input == "dct" else None, "world": world, "device": str(device),
         "classes": classes, "steps_per_epoch": steps_per_epoch, "total_steps": total,
         "stop_at_step": stop,
         "bytes_per_sample": train.bytes_per_sample if hasattr(train, "bytes_per_sample")
         else None})
    ckpt = os.path.join(args.output_dir, "checkpoint.pth")
    model.train()
    while epoch < args.epochs and step < stop:
        train.set_epoch(epoch)
        t0, seen, loss_sum, nb = time.perf_counter(), 0, 0.0, 0
        b = train.state_dict()["batches_done"] - 1  # > -1 when resuming inside the epoch
        for b, (x, y) in enumerate(train, start=b + 1):
            if b < skip:  # an older checkpoint: the same order, already trained
                continue
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = criterion(ddp(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            seen += len(y)
            loss_sum += loss.item()
            nb += 1
            if step % args.print_freq == 0 or step == stop:
                log({"step": step, "epoch": epoch, "loss": loss.item(),
                     "lr": sched.get_last_lr()[0]})
            if step >= stop:
                break
        finished = b + 1 >= steps_per_epoch
        elapsed = time.perf_counter() - t0
        seen_all, loss_all, nb_all = reduce_sum([seen, loss_sum, nb], device)
        record = {"event": "epoch", "epoch": epoch, "step": step, "complete": finished,
                  "train_loss": loss_all / max(nb_all, 1), "img_per_s": seen_all / elapsed}
        if finished and val is not None:
            record.update(evaluate(ddp, val, device, amp, args.eval_batches))
        log(record)
        if finished:  # else --max-steps stopped the run; the loader knows where
            epoch, skip = epoch + 1, 0
        states = loader_states(train)  # every rank takes part
        if main_rank:
            save_checkpoint(ckpt, model, opt, sched, epoch, step, states, args)
            log({"event": "checkpoint", "path": ckpt, "epoch": epoch, "step": step})
        if dist.is_initialized():
            dist.barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
