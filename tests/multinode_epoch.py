"""Run by tests/test_train_example.py under torchrun (2 simulated nodes x 2 processes):
each rank reads one epoch of the shards given, in both engines where DALI is installed,
and rank 0 writes every rank's sample ids (the shards' labels are the ids) as JSON."""
import json
import sys

import torch.distributed as dist

import freqload
from freqload import Source


def main(source, out, engines):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = {}
    for engine in engines.split(","):
        ids = []
        for epoch in (0, 1):
            loader = freqload.DCTLoader(Source(source, shuffle_buffer=5), batch_size=4, size=(4, 4),
                                        train=True, seed=9, engine=engine, num_workers=1,
                                        device="cpu")
            loader.set_epoch(epoch)
            ids.append([int(v) for _, y in loader for v in y])
        mine[engine] = {"ids": ids, "batches": len(loader), "shard": loader.sampler.shard_id,
                        "num_shards": loader.sampler.num_shards}
    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    if rank == 0:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(everyone, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
