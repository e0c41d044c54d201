"""The native engine (the core's own thread pool): the DALI engine's samples, statuses and
messages batch for batch; a clean stop however an epoch ends; nothing forks."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from test_loader import _png, write_folder

import freqload
from freqload import DCTLoader, Recipe
from freqload.loading.engines import native_engine

from conftest import HAVE_DALI, ROOT, pillow_jpeg, rng_image


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Good JPEGs of varied kinds, and files each engine must flag the same way: a PNG
    named .jpg (unsupported; the fallback makes it from pixels), a truncated JPEG (corrupt),
    an empty file, a CMYK JPEG, text."""
    root = tmp_path_factory.mktemp("mixed")
    write_folder(root, (6, 5))
    good = pillow_jpeg(rng_image(96, 80, seed=5))
    import io

    from PIL import Image

    cmyk = io.BytesIO()
    Image.fromarray(rng_image(40, 56, seed=2)).convert("CMYK").save(cmyk, "JPEG")
    for name, data in (("class0/zz_png.jpg", _png(rng_image(40, 48, seed=4))),
                       ("class1/zz_truncated.jpg", good[: len(good) // 2]),
                       ("class1/zz_empty.jpg", b""), ("class0/zz_cmyk.jpg", cmyk.getvalue()),
                       ("class0/zz_text.jpg", b"not an image at all\n")):
        (root / name).write_bytes(data)
    return str(root)


def _host_batches(source, engine, recipe, *, on_error="fallback", epochs=2, **kw):
    """Every HostBatch of `epochs` epochs, as plain data, before the error policy."""
    loader = DCTLoader(source, recipe, batch_size=4, engine=engine, num_workers=2,
                       shuffle=True, seed=7, on_error=on_error, device="cpu", **kw)
    out = []
    for _ in range(epochs):
        for hb in loader.host_batches(loader.epoch):
            out.append((hb.x.clone(), hb.index.copy(), hb.status.copy(), list(hb.messages),
                        hb.from_pixels.copy(),
                        None if hb.layouts is None else (hb.offsets.copy(), hb.layouts.copy())))
        loader.epoch += 1
    return out


@pytest.mark.skipif(not HAVE_DALI, reason="nvidia-dali is not installed (the CI installs it)")
@pytest.mark.parametrize("recipe", [
    Recipe(transform="train", size=(5, 7), mask="dctnet48"),
    Recipe(transform="eval", size=(6, 6), chroma="nearest"),
    Recipe(transform="blocks", size=(9, 5), regroup="device"),
    Recipe(transform="blocks", size=(4, 4), regroup="device", orientation="ignore"),
    Recipe(transform="train", size=(5, 7), augment="trivialaugment"),
    Recipe(transform="eval", size=(6, 6), augment="randaugment")],
    ids=["train", "eval-nearest", "blocks-planes", "blocks-planes-stored",
         "train-trivialaugment", "eval-randaugment"])
def test_native_gives_the_dali_engines_batches_statuses_and_messages(mixed, recipe):
    native = _host_batches(mixed, "native", recipe)
    dali = _host_batches(mixed, "dali", recipe)
    assert len(native) == len(dali) == 2 * 4  # 16 files, batches of 4, two epochs
    seen = set()
    for (xn, idn, stn, mn, fpn, ln), (xd, idd, std, md, fpd, ld) in zip(native, dali):
        assert np.array_equal(idn, idd) and np.array_equal(stn, std) and mn == md
        assert np.array_equal(fpn, fpd) and torch.equal(xn, xd)
        if ln is not None:
            assert np.array_equal(ln[0], ld[0]) and np.array_equal(ln[1], ld[1])
        seen |= {(int(s), m.split(":")[0]) for s, m in zip(stn, mn)}
    statuses = {s for s, _ in seen}
    assert statuses == {freqload.loading.host_batch.OK, freqload.loading.host_batch.DECODE_ERROR,
                        freqload.loading.host_batch.UNSUPPORTED}, seen
    assert sum(int(fp.sum()) for *_, fp, _ in native) == 2 * 2  # the PNG and the CMYK


def test_native_exact_skip_counts_over_bad_files(mixed):
    loader = DCTLoader(mixed, batch_size=3, size=(4, 4), engine="native", num_workers=2,
                       on_error="skip", device="cpu")
    for _ in range(2):
        n = sum(len(y) for _, y in loader)
        assert n == 11  # the good JPEGs only
    # the PNG (unsupported), truncated, empty, CMYK (unsupported), text: 5 per epoch
    assert loader.stats.skipped == 10 and loader.stats.decoded == 22


def test_native_zero_workers_decode_in_the_consuming_thread(mixed):
    a = _host_batches(mixed, "native", Recipe(size=(4, 4)), epochs=1)
    loader = DCTLoader(mixed, Recipe(size=(4, 4)), batch_size=4, engine="native",
                       num_workers=0, shuffle=True, seed=7, on_error="fallback", device="cpu")
    b = [(hb.x, hb.status) for hb in loader.host_batches(0)]
    assert len(a) == len(b) and all(torch.equal(x, y) and np.array_equal(s, t)
                                    for (x, _, s, *_), (y, t) in zip(a, b))


def _threads() -> int:
    """The pool threads alive in this process (they name themselves "freqload-pool");
    other threads (torch's, a library's) may come and go at any time."""
    n = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                n += f.read().strip() == "freqload-pool"
        except OSError:  # gone meanwhile
            pass
    return n


def _settles(condition, seconds: float = 2.0) -> bool:
    """condition() true now or within `seconds`: a new thread names itself a moment after
    it starts, and a joined thread's /proc/self/task entry can outlive pthread_join by a
    moment (the kernel reaps the task after it wakes the joiner); a thread that leaked
    never leaves."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def photos(tmp_path):
    return write_folder(tmp_path / "p", (20, 20))


def _loader(photos, **kw):
    return DCTLoader(photos, batch_size=4, size=(6, 6), engine="native", num_workers=3,
                     prefetch=3, device="cpu", normalize=False, **kw)


def test_breaking_out_of_an_epoch_stops_every_thread_and_frees_every_batch(photos):
    gc.collect()
    loader = _loader(photos)
    for cycle in range(3):
        it = iter(loader)
        next(it)
        assert _settles(lambda: _threads() == 3)  # the pool's, batches in flight
        assert len(native_engine._OPEN) == 1
        del it  # the loop left early: the generator is closed
        assert _settles(lambda: _threads() == 0) and not native_engine._OPEN
    # a whole epoch after an abandoned one: the same batches as a fresh loader's
    assert [y.tolist() for _, y in loader] == [y.tolist() for _, y in _loader(photos)]


def test_an_exception_in_the_consumer_stops_the_pool(photos):
    def consume():
        for k, _ in enumerate(_loader(photos)):
            if k == 2:
                raise RuntimeError("the training step failed")

    with pytest.raises(RuntimeError, match="training step"):
        consume()
    assert _settles(lambda: _threads() == 0) and not native_engine._OPEN


def test_ctrl_c_while_waiting_stops_the_pool(photos, monkeypatch):
    """KeyboardInterrupt raised inside Job.wait (as the signal handler would raise it
    between two of its slices): the epoch's cleanup cancels, waits, joins."""
    real = freqload._core.Job.wait
    calls = []

    class Interrupting:
        def __init__(self, job):
            self.job = job

        def wait(self, *a):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real(self.job, *a)

        def __getattr__(self, name):
            return getattr(self.job, name)

    real_batch = native_engine._Batch.__init__

    def batch_init(self, *a, **k):
        real_batch(self, *a, **k)
        self.job = Interrupting(self.job)

    monkeypatch.setattr(native_engine._Batch, "__init__", batch_init)
    with pytest.raises(KeyboardInterrupt):
        for _ in _loader(photos):
            pass
    assert len(calls) == 3 and _settles(lambda: _threads() == 0)
    assert not native_engine._OPEN


def test_a_real_sigint_interrupts_a_wait(tmp_path):
    """SIGINT to a process blocked in Job.wait (one thread, large noisy images: a batch
    takes seconds): KeyboardInterrupt from the wait, and the epoch's cleanup joins the
    pool before the handler runs."""
    from PIL import Image

    d = tmp_path / "big" / "c"
    d.mkdir(parents=True)
    big = rng_image(2400, 2400, seed=3)
    Image.fromarray(big).save(d / "a.jpg", quality=95)
    # 120 of them: seconds even for a fast decoder (24 once took 0.45 s, under the timer)
    for k in range(1, 120):
        os.link(d / "a.jpg", d / f"{k:03d}.jpg")
    script = textwrap.dedent(f"""
        import os, signal, sys, threading, time
        import freqload
        import freqload.loading.engines.native_engine as ne
        loader = freqload.DCTLoader({str(tmp_path / "big")!r}, batch_size=120, size=(4, 4),
                                    engine="native", num_workers=1, device="cpu",
                                    normalize=False, recipe=freqload.Recipe(
                                        transform="blocks", partial_decode=False))
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            for _ in loader:
                pass
            print("finished")
        except KeyboardInterrupt:
            print("interrupted", len(ne._OPEN))
            sys.exit(3)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 3, (res.stdout, res.stderr[-2000:])
    assert res.stdout.split() == ["interrupted", "0"], res.stdout


def test_interpreter_exit_mid_epoch_joins_the_pool(tmp_path):
    """An epoch left suspended (batches in flight) when the interpreter exits: the pool is
    closed at exit (its threads joined), the process exits 0 at once."""
    src = write_folder(tmp_path / "x", (12, 12))
    script = textwrap.dedent(f"""
        import atexit, os
        def check():  # registered first, so it runs after freqload's own exit hook
            print("threads at exit", len(os.listdir("/proc/self/task")))
        atexit.register(check)
        import freqload
        loader = freqload.DCTLoader({src!r}, batch_size=2, size=(4, 4), engine="native",
                                    num_workers=3, prefetch=4, device="cpu", normalize=False)
        it = iter(loader)
        next(it)
        print("threads running", len(os.listdir("/proc/self/task")))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    running = int(lines[0].split()[-1])  # the pool's 3 among them
    assert lines[-1] == f"threads at exit {running - 3}", res.stdout


def test_nothing_forks_on_the_native_path(tmp_path):
    """os.fork (and so multiprocessing's fork start method, which torch's DataLoader
    workers use) raises in this process: a whole native epoch runs regardless, from a
    folder and from tar shards, with the pixel fallback."""
    src = write_folder(tmp_path / "f", (5, 4))
    (tmp_path / "f" / "class0" / "zz.jpg").write_bytes(_png(rng_image(30, 30, seed=1)))
    script = textwrap.dedent(f"""
        import multiprocessing, os
        def no_fork(*a, **k):
            raise AssertionError("something forked")
        os.fork = no_fork
        os.forkpty = no_fork
        multiprocessing.set_start_method("fork", force=True)
        import freqload
        from freqload.tools.shards import write_shards
        n = 0
        for src in ({src!r},):
            for train in (False, True):
                loader = freqload.DCTLoader(src, batch_size=3, size=(4, 4), engine="native",
                                            num_workers=2, train=train, on_error="fallback",
                                            device="cpu")
                n += sum(len(y) for _, y in loader)
        print("samples", n)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == ["samples", str(2 * 10)], res.stdout


def test_a_forked_child_makes_its_own_pool(photos):
    """A loader made before a fork still works in the child: the pool is per epoch, made
    in the process that iterates (a pool from the parent is never touched there)."""
    loader = _loader(photos)
    next(iter(loader))  # the parent has run a pool
    want = [y.tolist() for _, y in _loader(photos)]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            got = [y.tolist() for _, y in loader]
            os.write(w, b"ok" if got == want else b"differ")
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 16) == b"ok"


def test_batch_buffers_are_reused_only_when_nothing_refers_to_them(photos):
    """normalize=False on the CPU hands the engine's own buffer on: a consumer that keeps
    every batch gets distinct, intact batches; one that drops them gets the same memory
    back (the buffers are recycled, not re-allocated)."""
    kept = [(x, y) for x, y in _loader(photos, shuffle=False)]
    again = [(x.clone(), y) for x, y in _loader(photos, shuffle=False)]
    assert len({x.data_ptr() for x, _ in kept}) == len(kept) == 10
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(kept, again))
    loader = _loader(photos, shuffle=False)
    pointers = set()
    for x, _ in loader:
        pointers.add(x.data_ptr())
        view = x[1:]  # noqa: F841  (a view alone keeps the buffer from reuse too)
    assert len(pointers) <= loader.engine.prefetch + 3
