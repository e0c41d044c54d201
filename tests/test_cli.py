"""The freqload command line on generated data: bench, stats, show, inspect."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import freqload
from freqload.tools.cli import main
from freqload.tools.inspect import estimate_quality

from conftest import ENGINES, RENDERERS, colour_bars, mpl_texts, pillow_jpeg, rng_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for k in range(10):
        d = root / f"class{k % 2}"
        d.mkdir(exist_ok=True)
        h, w = [(120, 160), (97, 131), (64, 200)][k % 3]
        (d / f"img{k}.jpg").write_bytes(pillow_jpeg(rng_image(h, w, seed=k), quality=70 + 2 * k,
                                                    subsampling=k % 3))
    return str(root)


FIELDS = {"pipeline", "img_per_s", "cpu_ms_per_img", "bytes_per_sample", "resolution"}


@pytest.mark.parametrize("engine", ENGINES)
def test_bench_json_and_plot(folder, tmp_path, capsys, engine):
    pipes = ["rgb-pil", "dct-24", "dct-24-i16", "dct-24-eval-i16", "dct-192"] + (
        ["rgb-dali-roi", "rgb-dali-roi-u8", "rgb-dali-full", "rgb-dali-eval-u8"]
        if engine == "dali" else [])
    assert main(["bench", folder, "--iters", "2", "--batch-size", "4", "--threads", "1",
                 "--pipelines", *pipes, "--engine", engine, "--json", str(tmp_path / "b.json"),
                 "--plot", str(tmp_path / "b.png")]) == 0
    table = capsys.readouterr().out
    rows = json.loads((tmp_path / "b.json").read_text())
    assert [r["pipeline"] for r in rows] == pipes
    for r in rows:
        assert FIELDS <= set(r) and r["img_per_s"] > 0 and r["cpu_ms_per_img"] > 0
        assert r["pipeline"] in table
    by = {r["pipeline"]: r for r in rows}
    # bytes per sample are measured from the batches: compare with batches taken here
    from freqload import DCTLoader
    from freqload.loading.rgb_loader import RGBLoader

    x, _ = next(iter(RGBLoader(folder, batch_size=3, size=224, train=True, num_workers=0,
                               device="cpu")))
    assert by["rgb-pil"]["bytes_per_sample"] == x.numel() * x.element_size() // 3
    for name, mask in (("dct-24", "dctnet24"), ("dct-192", "all")):
        x, _ = next(iter(DCTLoader(folder, batch_size=3, mask=mask, train=True, num_workers=0,
                                   engine="native", normalize=False, device="cpu")))
        assert by[name]["bytes_per_sample"] == x.numel() * x.element_size() // 3
    if "rgb-dali-roi" in by:  # DALI's float32 / uint8 CHW batches
        assert by["rgb-dali-roi"]["bytes_per_sample"] == by["rgb-pil"]["bytes_per_sample"]
        assert by["rgb-dali-full"]["bytes_per_sample"] == by["rgb-pil"]["bytes_per_sample"]
        assert by["rgb-dali-roi-u8"]["bytes_per_sample"] == 3 * 224 * 224
        # like with like: float rows against the float recipe, int16 against uint8
        assert by["dct-24"]["baseline"] == "rgb-dali-roi"
        assert by["dct-24-i16"]["baseline"] == "rgb-dali-roi-u8"
        assert by["dct-24-i16"]["vs_baseline"] == pytest.approx(
            by["dct-24-i16"]["img_per_s"] / by["rgb-dali-roi-u8"]["img_per_s"])
        # eval against DALI's validation recipe (uint8 CHW)
        assert by["rgb-dali-eval-u8"]["bytes_per_sample"] == 3 * 224 * 224
        assert by["dct-24-eval-i16"]["baseline"] == "rgb-dali-eval-u8"
    x, _ = next(iter(DCTLoader(folder, batch_size=3, mask="dctnet24", train=True,
                               num_workers=0, engine="native", normalize=False, device="cpu")))
    assert by["dct-24-i16"]["bytes_per_sample"] == x.numel() * x.element_size() // 3
    assert by["dct-24-eval-i16"]["bytes_per_sample"] == x.numel() * x.element_size() // 3
    assert all(r["bytes_source"] == "measured" for r in rows)
    assert by["dct-24"]["resolution"] == 448 and by["rgb-pil"]["resolution"] == 224
    assert by["dct-24"]["bytes_vs_uint8_rgb"] == pytest.approx(0.25)
    with Image.open(tmp_path / "b.png") as im:
        assert im.size[0] > 400 and im.size[1] > 50


def test_bench_skips_the_gpu_pipeline_without_a_gpu(folder, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["bench", folder, "--iters", "1", "--batch-size", "2", "--threads", "1",
                 "--pipelines", "rgb-dali-gpu", "--json", str(tmp_path / "g.json")]) == 0
    (row,) = json.loads((tmp_path / "g.json").read_text())
    assert row["skipped"] and row["img_per_s"] is None


def test_stats_equal_numpy(folder, tmp_path):
    files = freqload.data.sources.list_jpegs(folder)
    assert main(["stats", folder, "-o", str(tmp_path / "s.json"), "--max-images", "0"]) == 0
    stats = freqload.ChannelStats.load(tmp_path / "s.json")
    grids = np.concatenate([freqload.to_channels(freqload.read_coefficients(p)).reshape(192, -1)
                            for p in files], axis=1).astype(np.float64)
    np.testing.assert_allclose(stats.mean, grids.mean(1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.std, np.where(grids.std(1) < 1e-6, 1, grids.std(1)),
                               rtol=1e-6, atol=1e-6)
    assert stats.images == len(files) and stats.computed is None

    assert main(["stats", folder, "-o", str(tmp_path / "m.json"), "--max-images", "0",
                 "--mask", "dctnet24"]) == 0
    sub = freqload.ChannelStats.load(tmp_path / "m.json")
    m = freqload.ChannelMask.dctnet24()
    np.testing.assert_allclose(sub.select(m)[0], stats.select(m)[0], rtol=1e-6)
    with pytest.raises(ValueError, match="computed for 24 channels"):
        sub.select("dctnet32")


def test_show_writes_the_channel_grid(folder, tmp_path):
    f = freqload.data.sources.list_jpegs(folder)[0]
    assert main(["show", f, "-o", str(tmp_path / "s.png")]) == 0
    c = freqload.read_coefficients(f)
    with Image.open(tmp_path / "s.png") as im:
        assert im.mode in ("RGB", "RGBA") and im.size[0] > 3 * 8 * c.components[0].shape[1]
    gray = tmp_path / "g.jpg"
    gray.write_bytes(pillow_jpeg(rng_image(40, 48, gray=True)))
    assert main(["show", str(gray), "-o", str(tmp_path / "g.png"), "--mask", "dctnet48"]) == 0
    Image.open(tmp_path / "g.png").verify()


def test_inspect_facts_and_loader_verdicts(folder, tmp_path, capsys):
    good = tmp_path / "q80.jpg"
    good.write_bytes(pillow_jpeg(rng_image(50, 70), quality=80, subsampling=2))
    png = tmp_path / "png_named.jpg"
    buf = io.BytesIO()
    Image.fromarray(rng_image(20, 20)).save(buf, "PNG")
    png.write_bytes(buf.getvalue())
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(good.read_bytes()[:300])
    assert main(["inspect", str(good), str(png), str(bad), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    g, p, b = rows
    assert (g["width"], g["height"], g["sampling"], g["progressive"]) == (70, 50, "4:2:0", False)
    assert g["loader"] == "decode" and g["entropy"] == "fast path"
    assert set(g["quant_tables"]) == {"table 0", "table 1"}
    assert abs(g["quant_tables"]["table 0"]["estimated_quality"] - 80) <= 1
    assert p["loader"] == "fallback (pixels)" and "error" in p
    assert b["loader"] == "skip or raise" and "DecodeError" in b["error"]
    assert "note" not in b  # truncated: no EOI, so the loader reads it whole too
    prog = tmp_path / "progressive.jpg"
    prog.write_bytes(pillow_jpeg(rng_image(50, 70), quality=80, progressive=True))
    assert main(["inspect", str(prog), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["entropy"] == "libjpeg"
    data = good.read_bytes()
    stray = tmp_path / "stray_marker.jpg"  # a stray marker near its end, EOI intact
    stray.write_bytes(data[:-40] + b"\xff\xd3" + data[-38:])
    (t,) = json.loads((main(["inspect", str(stray), "--json"]), capsys.readouterr().out)[1])
    # the loader sees the marker in the rows it would skip and decodes the file whole
    assert t["loader"] == "skip or raise" and "note" not in t
    assert not t["partial_decodable"]
    for back in range(30, len(data) // 2):  # damage without a marker near the end
        flipped = bytearray(data)
        flipped[-back] ^= 0x55
        if 0xFF in flipped[-back - 1:-back + 2]:
            continue
        try:
            freqload.read_coefficients(bytes(flipped))
        except freqload.DecodeError:
            break
    tail = tmp_path / "damaged_tail.jpg"
    tail.write_bytes(bytes(flipped))
    (t,) = json.loads((main(["inspect", str(tail), "--json"]), capsys.readouterr().out)[1])
    assert t["loader"] == "skip or raise" and "partial_decode" in t["note"]
    assert t["partial_decodable"]
    assert main(["inspect", str(good)]) == 0  # the text form
    assert "estimated quality" in capsys.readouterr().out


@pytest.mark.parametrize("q", [10, 50, 75, 90, 100])
def test_quality_estimate_inverts_libjpeg_scaling(q):
    from PIL import Image as I

    buf = io.BytesIO()
    I.fromarray(rng_image(16, 16)).save(buf, "JPEG", quality=q)
    info = freqload.read_header(buf.getvalue())
    assert abs(estimate_quality(info.quant_tables[0]) - q) <= 1.5
    assert abs(estimate_quality(info.quant_tables[1], chroma=True) - q) <= 1.5


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "freqload", "mask", "dctnet24"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["indices"][:4] == [0, 1, 2, 3]


def test_cpu_seconds_counts_live_worker_processes():
    import multiprocessing
    import time

    from freqload.tools.cpu_time import cpu_seconds

    def spin(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
        time.sleep(30)  # stay alive: not reaped while we measure

    c0 = cpu_seconds()
    p = multiprocessing.get_context("fork").Process(target=spin, args=(0.5,))
    p.start()
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds() - c0 < 0.45 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cpu_seconds() - c0 >= 0.45  # the live child's 0.5 s are counted
    finally:
        p.terminate()
        p.join()


def test_bench_repeats_report_each_pipelines_median_run(monkeypatch):
    from freqload.tools import bench

    rates = {"rgb-dali-roi": iter([10.0, 30.0, 20.0]), "dct-24": iter([5.0, 50.0, 40.0])}
    order = []

    def fake(name, files, **kw):
        order.append(name)
        return bench.BenchResult(name, next(rates[name]), 1.0, 1, 224, 1, 1.0)
    monkeypatch.setattr(bench, "run_pipeline", fake)
    out = bench.run_bench([], ["rgb-dali-roi", "dct-24"], repeats=3)
    assert order == ["rgb-dali-roi", "dct-24"] * 3  # interleaved
    assert [r.img_per_s for r in out] == [20.0, 40.0]  # medians
    assert bench.speedups(out)["dct-24"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="repeats"):
        bench.run_bench([], ["dct-24"], repeats=0)


# ---- user mistakes: one line, the command named, exit 2 (usage) or 1 (failure) ---------

def _mistakes(folder, tmp):
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    img = f"{folder}/class0/img0.jpg"
    return [
        (["mask", "nosuch"], 2, "mask nosuch: mask 'nosuch' is neither a preset"),
        (["mask", "dctnet24", "--heatmap", str(tmp / "h.png")], 2, "go with --from-gate"),
        (["mask"], 2, "give a mask"),
        (["show", str(tmp / "missing.jpg"), "-o", str(tmp / "x.png")], 2, "no such file"),
        (["show", img, "-o", str(tmp / "x.png"), "--mask", "bogus"], 2, "--mask bogus"),
        (["show", img, "-o", str(tmp / "nodir" / "x.png")], 2, "does not exist"),
        (["inspect", folder], 2, "is a folder: give image files"),
        (["inspect", str(tmp / "missing.jpg")], 2, "no such file"),
        (["stats", str(empty), "-o", str(tmp / "s.json")], 1, "no image files"),
        (["stats", str(tmp / "nope"), "-o", str(tmp / "s.json")], 2, "is not a folder"),
        (["stats", folder, "-o", str(tmp / "s.json"), "--max-images", "-5"], 2,
         "--max-images must be >= 0, got -5"),
        (["stats", folder, "-o", str(tmp / "s.json"), "--mask", "x"], 2, "--mask x"),
        (["bench", folder, "--batch-size", "0"], 2, "--batch-size must be >= 1, got 0"),
        (["bench", folder, "--threads", "-1"], 2, "--threads must be >= 0, got -1"),
        (["bench", "--pipelines", "rgb-pil", "nonsense"], 2, "unknown pipeline 'nonsense'"),
        (["bench", folder, "--data", folder], 2, "give the data folder once"),
        (["pack", folder, str(tmp / "p"), "--mask", "bogus"], 2, "--mask bogus"),
        (["pack", str(tmp / "nope"), str(tmp / "p")], 2, "no such folder"),
        (["unpack", folder, str(tmp / "out")], 2, "is not a freqload pack"),
        (["shards", folder, str(tmp / "sh"), "--shard-size", "lots"], 2, "not a size"),
    ]


def test_mistakes_end_in_one_line_and_an_exit_code(folder, tmp_path, capsys):
    for argv, code, text in _mistakes(folder, tmp_path):
        assert main(argv) == code, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"freqload {argv[0]}: error: "), (argv, err)
        assert text in err[0], (argv, err)
        assert "Traceback" not in err[0]


def test_debug_shows_the_traceback_and_version(folder, tmp_path, capsys):
    from freqload.tools.cli import UsageError

    with pytest.raises(UsageError, match="neither a preset"):
        main(["--debug", "mask", "nosuch"])
    with pytest.raises(freqload.FreqloadError):  # a failure's own exception, traceback and all
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"\xff\xd8\xff\xdb" + b"\0" * 10)
        main(["--debug", "show", str(bad), "-o", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("freqload ")


def test_bench_takes_the_folder_after_the_pipelines(folder, capsys):
    assert main(["bench", "--pipelines", "dct-24-i16", folder, "--iters", "1",
                 "--batch-size", "2", "--threads", "1", "--engine", "native"]) == 0
    assert "dct-24-i16" in capsys.readouterr().out


def test_a_flat_folder_is_a_source(tmp_path):
    for k in range(3):
        (tmp_path / f"{k}.jpg").write_bytes(pillow_jpeg(rng_image(16, 24, seed=k)))
    s = freqload.data.sources.resolve_source(str(tmp_path))
    assert len(s) == 3 and list(s.labels) == [-1, -1, -1]
    assert main(["stats", str(tmp_path), "-o", str(tmp_path / "s.json")]) == 0


def test_every_option_has_help():
    from freqload.tools.cli import build_parser

    ap = build_parser()
    sub = next(a for a in ap._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.dest == "help":
                continue
            assert action.help, f"freqload {name} {action.option_strings or action.dest}"


def test_bench_skips_unreadable_files_and_says_which_baseline_did_not_run(folder, tmp_path,
                                                                          capsys):
    import shutil

    root = tmp_path / "with-bad"
    shutil.copytree(folder, root)
    (root / "class0" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert main(["bench", str(root), "--pipelines", "dct-24-i16", "--iters", "1",
                 "--batch-size", "2", "--threads", "1", "--engine", "native"]) == 0
    out, err = capsys.readouterr()
    assert "skipped 1 of 11 files" in err and "dct-24-i16:" in err  # the row as it finished
    row = next(line for line in out.splitlines() if line.startswith("dct-24-i16"))
    assert " - " in row and "rgb-dali-roi-u8 (not run)" in row
    assert main(["bench", str(root), "--pipelines", "dct-24-i16", "--iters", "1",
                 "--on-error", "raise", "--engine", "native"]) == 1
    assert "broken.jpg" in capsys.readouterr().err


def test_progress_plain_lines_where_stderr_is_not_a_terminal(monkeypatch, capsys):
    """Off a terminal: a plain line every few seconds with count, rate, elapsed and ETA,
    and a last one; the rate counts only this run (a resume's initial items not)."""
    import freqload.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: clock[0])
    monkeypatch.delenv("FREQLOAD_PROGRESS", raising=False)
    with progress.Progress(100, "packing", initial=40, unit="files") as bar:
        for _ in range(30):
            clock[0] += 0.5
            bar.update()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "packing: 50/100 files (50%), 2.0 files/s, 5.0 s elapsed, ETA 25.0 s"
    assert lines[-1].startswith("packing: 70/100 files (70%), 2.0 files/s, 15.0 s elapsed")
    assert len(lines) == 4
    with progress.Progress(10, "quiet", enabled=False) as bar:
        clock[0] += 60
        bar.update(10)
    assert capsys.readouterr().err == ""


# ---- pictures: what each draws ---------------------------------------------------------

@pytest.mark.parametrize("renderer", RENDERERS)
def test_bench_plot_title_legend_and_skipped_rows(folder, tmp_path, monkeypatch, renderer,
                                                  figures):
    from freqload.tools import bench

    res = [bench.BenchResult("dct-24", 900.0, 1.1, 150528, 448, 10, 1.0),
           bench.BenchResult("rgb-dali-roi", 450.0, 2.0, 602112, 224, 10, 1.0),
           bench.BenchResult("rgb-dali-gpu", float("nan"), float("nan"), 0, 224, 0, 0.0,
                             skipped="needs a CUDA GPU")]
    drawn = bench.plot(res, tmp_path / "p.png", title="T", renderer=renderer)
    assert drawn["renderer"] == renderer
    assert drawn["title"] == "T" and drawn["rows"] == ["dct-24", "rgb-dali-roi"]
    assert drawn["skipped"] == ["rgb-dali-gpu"] and len(drawn["legend"]) == 2
    assert "images / s" in drawn["panels"][0] and "bytes / sample" in drawn["panels"][1]
    Image.open(tmp_path / "p.png").verify()
    if renderer == "matplotlib":  # the figure holds each element
        (fig,) = figures
        texts = mpl_texts(fig)
        assert fig._suptitle.get_text() == "T"
        assert [ax.get_xlabel() for ax in fig.axes] == drawn["panels"]
        assert set(drawn["legend"]) <= set(texts)
        assert any("rgb-dali-gpu (needs a CUDA GPU)" in t for t in texts)
        bars = [p for p in fig.axes[0].patches]
        assert [b.get_width() for b in bars] == [900.0, 450.0]
    seen = {}
    real = bench.plot
    monkeypatch.setattr(bench, "plot", lambda r, p, title="", renderer=None: seen.update(
        title=title, renderer=renderer) or real(r, p, title=title, renderer=renderer))
    assert main(["bench", folder, "--pipelines", "dct-24-i16", "--iters", "1", "--batch-size",
                 "2", "--threads", "1", "--engine", "native", "--device", "cpu", "--plot",
                 str(tmp_path / "b.png"), "--renderer", renderer]) == 0
    assert seen["title"].endswith("batch 2, 1 threads, device cpu") and "10 JPEGs" in seen["title"]
    assert seen["renderer"] == renderer


@pytest.mark.parametrize("renderer", RENDERERS)
def test_show_colour_bar_legend_shared_scale_and_grey(folder, tmp_path, renderer, figures):
    from freqload.tools.show import show_channels

    c = freqload.read_coefficients(freqload.data.sources.list_jpegs(folder)[0])
    info = shared = show_channels(c, tmp_path / "a.png", "dctnet24", shared_scale=True,
                                  renderer=renderer)
    assert info["renderer"] == renderer
    assert info["shared_scale"] and info["scale_max"] > 0
    assert info["legend"] == "red frame: in the mask (24 channels)" and info["note"] == ""
    grey = freqload.read_coefficients(pillow_jpeg(rng_image(40, 48, gray=True)))
    info = show_channels(grey, tmp_path / "b.png", None, renderer=renderer)
    assert info["components"] == ("Y",) and "no chroma" in info["note"]
    for name in ("a.png", "b.png"):
        Image.open(tmp_path / name).verify()
    if renderer == "matplotlib":
        colour, grey_fig = figures
        (bar,) = colour_bars(colour)
        assert bar.get_xlabel() == "log(1+|x|)"
        assert bar.get_xlim() == pytest.approx((0.0, shared["scale_max"]))  # one scale
        assert [ax.get_title() for ax in colour.axes if ax not in (bar,)] == ["Y", "Cb", "Cr"]
        assert "red frame: in the mask (24 channels)" in mpl_texts(colour)
        # 24 framed channels: one rectangle each on the component panels
        assert sum(len(ax.patches) for ax in colour.axes) == 24
        assert "greyscale: no chroma channels (Cb, Cr)" in mpl_texts(grey_fig)
        (bar,) = colour_bars(grey_fig)
        assert "own maximum" in bar.get_xlabel() and bar.get_xlim() == (0.0, 1.0)
    assert main(["show", freqload.data.sources.list_jpegs(folder)[0], "-o", str(tmp_path / "s.png"),
                 "--shared-scale", "--renderer", renderer]) == 0


@pytest.mark.parametrize("renderer", RENDERERS)
def test_gate_heatmap_colour_bar_and_an_outline_on_dark_cells(tmp_path, renderer, figures):
    from freqload.models.gate import GateStats
    from freqload.tools.pictures import gate_heatmap

    stats = GateStats()
    stats.update(torch.from_numpy(np.linspace(0, 1, 192, dtype=np.float32))[None])
    drawn = gate_heatmap(stats, tmp_path / "g.png", mask=freqload.ChannelMask([191]), cell=20,
                         renderer=renderer)
    assert drawn["colour_bar"] == (0.0, 1.0) and drawn["outlined"] == [191]
    with Image.open(tmp_path / "g.png") as im:
        px = np.asarray(im.convert("RGB"))
    if renderer == "pillow":
        # channel 191: Cr, the last cell (row 7, column 7), the darkest; its outline has white
        pad, title = 12, 18
        x0 = pad + 2 * (8 * 20 + pad) + 7 * 20
        y0 = title + pad + 7 * 20
        inner = px[y0 + 2:y0 + 18, x0 + 2]  # the white line inside the black frame
        assert (inner == 255).all(axis=1).any()
        return
    (fig,) = figures
    (bar,) = colour_bars(fig)
    assert bar.get_xlim() == (0.0, 1.0) and "gate was open" in bar.get_xlabel()
    panels = [ax for ax in fig.axes if ax is not bar]
    assert [ax.get_title() for ax in panels] == ["Y", "Cb", "Cr"]
    # the outline: a black frame and a white one inside it, on the Cr panel's cell (7, 7)
    frames = [(p.get_edgecolor()[:3], p.get_xy()) for p in panels[2].patches]
    assert [f[0] for f in frames] == [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)]
    assert frames[0][1] == (6.5, 6.5) and not panels[0].patches and not panels[1].patches
    assert panels[2].images[0].get_array()[7, 7] == pytest.approx(1.0)


def test_pictures_without_matplotlib(folder, tmp_path, monkeypatch, capsys):
    """Without matplotlib (no [plot] extra): "auto" draws with Pillow, asking for
    matplotlib says how to install it, and the command line refuses before any work."""
    import sys

    from freqload.models.gate import GateStats
    from freqload.tools import bench
    from freqload.tools import pictures as drawing
    from freqload.tools.pictures import gate_heatmap

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    monkeypatch.delenv("FREQLOAD_PLOT", raising=False)
    assert not drawing.have_matplotlib() and drawing.pick_renderer() == "pillow"
    res = [bench.BenchResult("dct-24", 900.0, 1.1, 150528, 448, 10, 1.0)]
    assert bench.plot(res, tmp_path / "p.png")["renderer"] == "pillow"
    stats = GateStats()
    stats.update(torch.rand(2, 192))
    assert gate_heatmap(stats, tmp_path / "g.png")["renderer"] == "pillow"
    for name in ("p.png", "g.png"):
        Image.open(tmp_path / name).verify()
    with pytest.raises(ImportError, match=r"pip install 'freqload\[plot\]'"):
        bench.plot(res, tmp_path / "q.png", renderer="matplotlib")
    image = freqload.data.sources.list_jpegs(folder)[0]
    assert main(["show", image, "-o", str(tmp_path / "s.png"), "--renderer",
                 "matplotlib"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freqload show: error: the matplotlib renderer needs matplotlib")
    assert not (tmp_path / "s.png").exists()
    monkeypatch.setenv("FREQLOAD_PLOT", "svg")
    assert main(["show", image, "-o", str(tmp_path / "s.png")]) == 2
    assert "($FREQLOAD_PLOT)" in capsys.readouterr().err
    monkeypatch.setenv("FREQLOAD_PLOT", "pillow")
    assert main(["show", image, "-o", str(tmp_path / "s.png")]) == 0
    Image.open(tmp_path / "s.png").verify()


@pytest.mark.parametrize("tour,out", [("coefficients_tour.py", "--out"),
                                      ("augment_tour.py", "-o")])
def test_example_tours_label_their_panels(tour, out, tmp_path):
    """The tours run on their default picture and write labelled panels (a caption strip
    above each: freqload.tools.pictures.labelled_row)."""
    import os
    import subprocess

    script = os.path.join(os.path.dirname(__file__), "..", "examples", tour)
    png = tmp_path / "tour.png"
    r = subprocess.run([sys.executable, script, out, str(png)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with Image.open(png) as im:
        px = np.asarray(im.convert("L"))
    caption = px[:16]
    assert (caption < 128).any() and (caption == 255).mean() > 0.8  # text on white


def test_labelled_row():
    from freqload.tools.pictures import labelled_row

    img = labelled_row([("a", np.zeros((10, 12), np.uint8)),
                        ("b", np.full((8, 5, 3), 200, np.uint8))])
    assert img.size == (6 + 12 + 6 + 5 + 6, 10 + 16 + 6)
    px = np.asarray(img)
    assert (px[16:26, 6:18] == 0).all() and (px[16:24, 24:29] == 200).all()


def test_show_augment_draws_each_operation_beside_its_pixel_definition(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "p.jpg"
    src.write_bytes(pillow_jpeg(rng_image(64, 96, seed=2)))
    out = tmp_path / "aug.png"
    assert main(["show", str(src), "--augment", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in err and "Brightness 0.5" in err and "Equalize" in err
    psnr = {}
    for part in err.split(": ", 1)[1].split(", "):
        name, value, _ = part.rsplit(" ", 2)
        psnr[name] = float(value)
    assert psnr["TranslateX 13"] > 45 and psnr["Brightness 0.5"] > 40  # exact ops
    assert len(psnr) == 11 and min(psnr.values()) > 8
    w, h = Image.open(out).size
    assert w > 11 * 100 and h > 2 * 60
