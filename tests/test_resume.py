"""Exact mid-epoch resume: loader.state_dict() / load_state_dict().

Reference: the uninterrupted iteration of the same loader settings. A loader restored
from the state taken after batch k yields batches k+1.. of that epoch, equal tensor for
tensor, and its engine is asked for those batches only (the skipped ones are neither
read nor decoded)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_loader import write_folder

from freqload import DCTLoader, Source
from freqload.loading.rgb_loader import RGBLoader

from conftest import ENGINES, assert_same_batches
from test_shards import make_shards


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    folder = write_folder(root / "folder", (6, 5))
    make_shards(str(root / "shards"), counts=(4, 3, 5, 2))
    return {"folder": str(folder), "shards": str(root / "shards" / "s-{000..003}.tar")}


def _dct(src, engine, shuffle_buffer=1000, **kw):
    return DCTLoader(Source(src, shuffle_buffer=shuffle_buffer), batch_size=3, size=(4, 5),
                     engine=engine, num_workers=1, train=True, seed=11, normalize=False, **kw)


def _spy(loader):
    """Record the index batches the engine is asked for."""
    asked = []
    real = loader.engine.batches

    def batches(b, k):
        asked.extend(x.tolist() for x in b)
        return real(b, k)
    loader.engine.batches = batches
    return asked


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["folder", "shards"])
def test_resume_mid_epoch_yields_the_rest_exactly(sources, engine, kind):
    src = sources[kind]
    whole = _dct(src, engine)
    whole.set_epoch(2)
    ref = [(x.clone(), y.clone()) for x, y in whole]
    plan = [b.tolist() for b in whole.sampler.batches(2)]
    assert len(ref) == len(plan) >= 4
    for k in (1, 3):
        first = _dct(src, engine)
        first.set_epoch(2)
        it = iter(first)
        for _ in range(k):
            next(it)
        state = json.loads(json.dumps(first.state_dict()))  # plain data
        del it
        assert state["epoch"] == 2 and state["batches_done"] == k
        second = _dct(src, engine)
        second.load_state_dict(state)
        asked = _spy(second)
        second.set_epoch(2)  # what a training loop does: the same epoch keeps the position
        rest = [(x.clone(), y.clone()) for x, y in second]
        assert asked == plan[k:]  # the first k batches were not read again
        assert len(rest) == len(ref) - k
        assert_same_batches(ref[k:], rest)
        assert second.epoch == 3 and second.state_dict()["batches_done"] == 0
        assert second.stats.decoded == whole.stats.decoded  # counters carried over


def test_state_at_an_epoch_end_and_mismatches(sources):
    loader = _dct(sources["folder"], "native")
    for _ in loader:
        pass
    state = loader.state_dict()
    assert (state["epoch"], state["batches_done"]) == (1, 0)
    taken = _dct(sources["folder"], "native")
    it = iter(taken)
    for _ in range(len(taken)):  # every batch taken, the loop not yet ended
        next(it)
    assert taken.state_dict() == dict(state, stats=taken.state_dict()["stats"])
    again = _dct(sources["folder"], "native")
    again.load_state_dict(state)
    asked = _spy(again)
    n = sum(1 for _ in again)
    assert n == len(again) and asked == [b.tolist() for b in again.sampler.batches(1)]
    for kw, what in (({"batch_size": 4}, "batch_size"), ({"seed": 12}, "seed"),
                     ({"shard_id": 1, "num_shards": 2}, "num_shards"),
                     ({"shuffle": False}, "shuffle")):
        args = dict(batch_size=3, size=(4, 5), engine="native", num_workers=0, train=True,
                    seed=11)
        args.update(kw)
        other = DCTLoader(sources["folder"], **args)
        with pytest.raises(ValueError, match=what):
            other.load_state_dict(state)
    shards = _dct(sources["shards"], "native", shuffle_buffer=2)
    with pytest.raises(ValueError, match="plan: 'files' in the state, 'shards' here"):
        shards.load_state_dict(state)
    with pytest.raises(ValueError, match="not a freqload loader state"):
        loader.load_state_dict({"epoch": 1})
    bad = dict(state, batches_done=99)
    with pytest.raises(ValueError, match="outside"):
        loader.load_state_dict(bad)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["folder", "shards"])
def test_rgb_loader_resumes_too(sources, engine, kind):
    def mk():
        return RGBLoader(sources[kind], batch_size=4, size=32, train=True, seed=3,
                         num_workers=0 if engine == "native" else 1, device="cpu",
                         engine="torch" if engine == "native" else engine)  # Pillow
    ref = [(x.clone(), y.clone()) for x, y in mk()]
    first = mk()
    it = iter(first)
    next(it)
    state = first.state_dict()
    second = mk()
    second.load_state_dict(state)
    rest = list(second)
    assert len(rest) == len(ref) - 1
    assert_same_batches(ref[1:], rest)
    np.testing.assert_equal(second.epoch, 1)
