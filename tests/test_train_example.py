"""CI smoke tests under torchrun on CPU (gloo).

examples/imagenet/train.py, 2 processes, on ../shared/data/photos/hymenoptera (generated
two-class data where it is absent): a run stopped by --max-steps mid-epoch writes a
checkpoint; --resume continues from that step to the end of the schedule; the training
loss goes down. And two nodes simulated on this machine (--nnodes=2, a rendezvous on
127.0.0.1) of 2 processes each, reading tar shards: every sample exactly once per epoch
across the 4 ranks, in each engine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import PHOTOS, pillow_jpeg, rng_image

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, "..", "examples", "imagenet", "train.py")
HYMENOPTERA = os.path.join(PHOTOS, "hymenoptera")


def generated_data(root):
    """Two classes that differ (dark vs bright pictures), train/ and val/."""
    for split, n in (("train", 120), ("val", 40)):
        for c, shift in ((0, -60), (1, 60)):
            d = os.path.join(root, split, f"class{c}")
            os.makedirs(d, exist_ok=True)
            for i in range(n // 2):
                img = np.clip(rng_image(96, 128, seed=1000 * c + i).astype(int) + shift, 0, 255)
                with open(os.path.join(d, f"{i}.jpg"), "wb") as f:
                    f.write(pillow_jpeg(img.astype(np.uint8), quality=85, subsampling=2))
    return root


def torchrun(args, cwd):
    torchrun_bin = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [torchrun_bin, "--standalone", "--nproc_per_node=2", TRAIN, *args]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


@pytest.mark.slow
def test_torchrun_two_processes_checkpoint_and_resume(tmp_path):
    data = HYMENOPTERA if os.path.isdir(HYMENOPTERA) else generated_data(str(tmp_path / "data"))
    out = tmp_path / "run"
    common = ["--data", data, "--arch", "resnet18_dct", "--image-size", "224", "--batch-size",
              "16", "--epochs", "4", "--lr", "0.1", "--warmup-epochs", "1", "--workers", "1",
              "--device", "cpu", "--output-dir", str(out), "--print-freq", "1"]
    torchrun(common + ["--max-steps", "10"], tmp_path)
    ckpt = out / "checkpoint.pth"
    assert ckpt.exists() and (out / "stats.json").exists()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    start = next(r for r in rows if r.get("event") == "start")
    assert start["world"] == 2 and start["stop_at_step"] == 10
    per_epoch = start["steps_per_epoch"]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 11))
    last_ck = [r for r in rows if r.get("event") == "checkpoint"][-1]
    assert last_ck["step"] == 10
    import torch

    mid = torch.load(ckpt, map_location="cpu", weights_only=False)["loader"]
    assert [(st["epoch"], st["batches_done"]) for st in mid] == \
        [(10 // per_epoch, 10 % per_epoch)] * 2  # mid-epoch: where each rank's loader stopped

    torchrun(common + ["--resume", str(ckpt)], tmp_path)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    resumed = next(r for r in rows if r.get("event") == "resumed")
    assert resumed["step"] == 10
    steps = [r["step"] for r in rows if "loss" in r]
    total = 4 * per_epoch
    assert steps == list(range(1, total + 1))  # continued at step 11, nothing repeated
    epochs = [r for r in rows if r.get("event") == "epoch" and r["complete"]]
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3]
    assert all("top1" in r and r["val_images"] > 0 for r in epochs)
    losses = [r["loss"] for r in rows if "loss" in r]
    k = per_epoch
    assert np.mean(losses[-k:]) < np.mean(losses[:k]), losses  # the loss went down

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert ck["step"] == total and ck["epoch"] == 4
    # each rank's loader state, at the start of the epoch after the last
    assert [(st["epoch"], st["batches_done"], st["plan"]["shard_id"]) for st in ck["loader"]] \
        == [(4, 0, 0), (4, 0, 1)]


def _node(node_rank, port, args, cwd):
    torchrun_bin = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.Popen(
        [torchrun_bin, "--nnodes=2", "--nproc_per_node=2", f"--node_rank={node_rank}",
         "--master_addr=127.0.0.1", f"--master_port={port}", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_nodes_read_every_shard_sample_once(tmp_path):
    import socket

    from conftest import HAVE_DALI
    from test_shards import make_shards

    counts = (7, 3, 9, 2, 5)  # uneven shard files, 26 samples
    make_shards(str(tmp_path / "shards"), counts=counts, label=lambda k: k)
    src = str(tmp_path / "shards" / "s-{000..004}.tar")
    out = tmp_path / "ids.json"
    engines = "native,dali" if HAVE_DALI else "native"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = os.path.join(HERE, "multinode_epoch.py")
    nodes = [_node(r, port, [script, src, str(out), engines], tmp_path) for r in (0, 1)]
    logs = [n.communicate(timeout=300)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(x[-3000:] for x in logs)
    ranks = json.loads(out.read_text())
    assert len(ranks) == 4
    for engine in engines.split(","):
        assert [r[engine]["shard"] for r in ranks] == [0, 1, 2, 3]
        assert {r[engine]["num_shards"] for r in ranks} == {4}
        for epoch in (0, 1):
            ids = [r[engine]["ids"][epoch] for r in ranks]
            assert sorted(i for part in ids for i in part) == list(range(26))  # once each
            assert max(map(len, ids)) - min(map(len, ids)) <= 1
        assert ranks[0][engine]["ids"][0] != ranks[0][engine]["ids"][1]  # epochs differ
        assert [r[engine]["ids"] for r in ranks] == [r["native"]["ids"] for r in ranks]
