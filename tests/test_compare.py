"""freqload compare: the DCT/RGB accuracy-and-cost A/B (freqload.tools.compare, `freqload compare`).

Runs end to end on a small generated set (freqload.tools.synthetic.make_class_folders) with
tiny settings; checks that the table, the JSON and the plot hold the same numbers, that
seeds reproduce, that the gate mode writes a mask the loader takes. No test asserts an
accuracy."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

import freqload
from freqload.tools import compare as cmp
from freqload.tools.cli import main
from freqload.tools.synthetic import make_class_folders

from conftest import ENGINES, PHOTOS, RENDERERS, mpl_texts, needs_shared

TINY = dict(epochs=2, size=4, batch_size=8, num_workers=0, stats_images=20, progress=False,
            rgb_engine="torch")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """3 classes, 8 train and 4 val pictures each (48x40)."""
    return make_class_folders(str(tmp_path_factory.mktemp("cmp")), classes=3, train=8, val=4,
                              size=(48, 40))


def test_pairing_rule_against_a_search():
    """r = round(s*sqrt(2C/3)): within one pixel of the side whose uint8 RGB bytes come
    nearest the int16 DCT bytes (a search over r); 28 blocks x 24 channels -> 112 pixels,
    37,632 bytes each."""
    assert cmp.paired_rgb_size(28, 24) == 112
    assert cmp.input_bytes("dct", 28, 24) == cmp.input_bytes("rgb", 112) == 37_632
    for s in (1, 4, 7, 14, 28, 56):
        for c in (1, 3, 24, 32, 48, 64, 192):
            want = 2 * c * s * s
            best = min(range(1, 2000), key=lambda r: (abs(3 * r * r - want), r))
            r = cmp.paired_rgb_size(s, c)
            assert r in (best, best + 1, best - 1), (s, c, r, best)
            assert abs(r - s * math.sqrt(2 * c / 3)) <= 0.5
            if c == 24:  # sqrt(16) = 4: exactly equal bytes
                assert 3 * r * r == want


def _rows(text: str) -> dict:
    """Parse the table's variant rows: name -> the numbers it prints."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("---")) + 1
    out = {}
    for ln in lines[start:]:
        if not ln.strip():
            break
        t = ln.split()
        out[t[0]] = {"seeds": int(t[-12]), "final": (float(t[-11]), float(t[-9])),
                     "best": (float(t[-8]), float(t[-6])), "wall": float(t[-5]),
                     "cpu": float(t[-4]), "img_s": t[-3],
                     "input_bytes": int(t[-2].replace(",", "")),
                     "crossed": int(t[-1].replace(",", ""))}
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_compare_command_table_json_and_plot_agree(data, tmp_path, capsys, engine):
    js, png = tmp_path / "r.json", tmp_path / "acc.png"
    assert main(["compare", data, "--epochs", "2", "--seeds", "2", "--size", "4",
                 "--batch-size", "8", "--workers", "1", "--engine", engine,
                 "--rgb-engine", "torch" if engine == "native" else engine,
                 "--stats-images", "20", "--json", str(js), "--plot", str(png),
                 "--renderer", "pillow"]) == 0
    out = capsys.readouterr().out
    report = json.loads(js.read_text())
    assert report["format"] == cmp.FORMAT
    st, pr = report["settings"], report["pairing"]
    assert st["seeds"] == [0, 1] and st["epochs"] == 2 and st["classes"] == [
        "class_0", "class_1", "class_2"]
    assert (st["train_images"], st["val_images"]) == (24, 12)
    # 4 blocks x 24 channels x int16 = 768 bytes = 16 x 16 x 3 uint8
    assert (pr["dct_bytes"], pr["rgb_size_px"], pr["rgb_bytes"]) == (768, 16, 768)
    assert "pairing: DCT 4x4 blocks x 24 channels int16 = 768 B; RGB 16x16 x 3 uint8 = 768 B" \
        in out
    names = [v["name"] for v in report["variants"]]
    assert names == ["dct-dctnet24", "rgb"]
    rows = _rows(out)
    assert list(rows) == names
    for v in report["variants"]:
        assert len(v["runs"]) == 2 and [r["seed"] for r in v["runs"]] == [0, 1]
        for r in v["runs"]:
            assert len(r["top1"]) == len(r["loss"]) == 2
            # top-1 is a count of the 12 validation pictures
            assert all(abs(a * 12 / 100 - round(a * 12 / 100)) < 1e-9 for a in r["top1"])
            assert all(np.isfinite(r["loss"])) and r["wall_s"] > 0 and r["cpu_s"] > 0
        final = [r["top1"][-1] for r in v["runs"]]
        best = [max(r["top1"]) for r in v["runs"]]
        assert v["final_top1_mean"] == pytest.approx(np.mean(final))
        assert v["final_top1_std"] == pytest.approx(np.std(final, ddof=1))
        assert v["best_top1_mean"] == pytest.approx(np.mean(best))
        assert v["wall_s_mean"] == pytest.approx(np.mean([r["wall_s"] for r in v["runs"]]))
        row = rows[v["name"]]  # the table prints the JSON's numbers
        assert row["seeds"] == 2
        assert row["final"] == (round(v["final_top1_mean"], 1), round(v["final_top1_std"], 1))
        assert row["best"] == (round(v["best_top1_mean"], 1), round(v["best_top1_std"], 1))
        assert row["wall"] == round(v["wall_s_mean"], 1)
        assert row["cpu"] == round(v["cpu_s_mean"], 1)
        assert row["img_s"] == f"{v['loader_img_per_s']:.0f}"
        assert row["input_bytes"] == v["input_bytes"] == 768
    # what crossed: the DCT loader's int16 channels; RGBLoader's uint8 pixels (DALI) or
    # float32 ones (torch)
    assert rows["dct-dctnet24"]["crossed"] == 24 * 4 * 4 * 2
    assert rows["rgb"]["crossed"] == 3 * 16 * 16 * (1 if engine == "dali" else 4)
    assert report["variants"][0]["loader"] == engine
    assert report["variants"][1]["loader"].startswith("torch" if engine == "native" else engine)
    with Image.open(png) as im:
        im.verify()


@pytest.mark.parametrize("engine", ENGINES)
def test_seeds_reproduce(data, engine):
    """The same seed gives the same run (weights, order, crops and flips); another seed
    another."""
    kw = {**TINY, "engine": engine, "rgb_engine": "torch" if engine == "native" else engine,
          "num_workers": 1}
    a = cmp.compare(os.path.join(data, "train"), os.path.join(data, "val"), seeds=[3], **kw)
    b = cmp.compare(os.path.join(data, "train"), os.path.join(data, "val"), seeds=[3], **kw)
    c = cmp.compare(os.path.join(data, "train"), os.path.join(data, "val"), seeds=[4], **kw)
    for va, vb, vc in zip(a["variants"], b["variants"], c["variants"]):
        assert va["runs"][0]["loss"] == vb["runs"][0]["loss"]
        assert va["runs"][0]["top1"] == vb["runs"][0]["top1"]
        assert va["runs"][0]["loss"] != vc["runs"][0]["loss"]


def test_gate_mode_writes_a_mask_the_loader_accepts(data, tmp_path):
    from freqload.models.gate import GateStats, mask_from_gate_stats

    out = tmp_path / "gate"
    report = cmp.compare(os.path.join(data, "train"), os.path.join(data, "val"), seeds=[0, 1],
                         engine="native", gate=True, gate_k=8, out_dir=str(out), **TINY)
    names = [v["name"] for v in report["variants"]]
    assert names == ["dct-dctnet24", "rgb", "dct-gated192", "dct-learned8"]
    gated, learned = report["variants"][2], report["variants"][3]
    assert len(gated["runs"]) == 1 and len(learned["runs"]) == 2  # gate: the first seed
    assert gated["input_bytes"] == 2 * 192 * 16 and len(gated["runs"][0]["open_fraction"]) == 2
    g = report["gate"]
    files = g["files"]
    mask = freqload.ChannelMask.load(files["mask"])
    stats = GateStats.load(files["gate_stats"])
    # the mask is the 8 most open channels of the saved statistics, recomputed here
    assert mask == mask_from_gate_stats(stats, 8) and len(mask) == 8
    assert list(mask.indices) == g["channels"] == learned["channels"]
    freq = np.asarray(g["open_probability"])
    assert freq.shape == (192,) and ((freq >= 0) & (freq <= 1)).all()
    assert np.allclose(freq, stats.frequency)
    assert min(freq[list(mask.indices)]) >= max(np.delete(freq, list(mask.indices)))
    Image.open(files["heatmap"]).verify()
    # the loader takes the written file as its mask
    ld = freqload.DCTLoader(os.path.join(data, "val"), batch_size=4, mask=files["mask"],
                            size=(4, 4), engine="native", num_workers=0, device="cpu")
    x, _ = next(iter(ld))
    assert x.shape == (4, 8, 4, 4)
    assert "gate: trained on all 192 channels" in cmp.table(report)


def _fake_report() -> dict:
    """A report with known accuracies (no training): two variants, three seeds."""
    def runs(curves):
        return [{"seed": s, "top1": c, "loss": [1.0] * len(c), "wall_s": 1.0, "cpu_s": 2.0}
                for s, c in enumerate(curves)]

    return {"format": cmp.FORMAT,
            "settings": {"arch": "resnet_mini", "seeds": [0, 1, 2], "train_images": 30,
                         "val_images": 9},
            "variants": [
                {"name": "dct-dctnet24", "input": "dct", "gated": False,
                 "describe": "DCT 24 ch, 4x4 blocks",
                 "runs": runs([[10, 20, 30], [20, 40, 50], [30, 30, 40]])},
                {"name": "rgb", "input": "rgb", "gated": False, "describe": "RGB 3x16x16 px",
                 "runs": runs([[50, 60, 70]] * 3)}]}


@pytest.mark.parametrize("renderer", RENDERERS)
def test_plot_lines_bands_and_legend(tmp_path, renderer, figures):
    report = _fake_report()
    drawn = cmp.plot(report, tmp_path / "p.png", renderer=renderer)
    assert drawn["renderer"] == renderer
    assert drawn["legend"] == ["dct-dctnet24 (DCT 24 ch, 4x4 blocks)", "rgb (RGB 3x16x16 px)"]
    assert drawn["bands"] == [True, False]  # seeds spread / agree
    assert drawn["xlabel"] == "epoch" and "top-1" in drawn["ylabel"]
    Image.open(tmp_path / "p.png").verify()
    if renderer == "matplotlib":
        (fig,) = figures
        (ax,) = fig.axes
        assert ax.get_xlabel() == "epoch" and ax.get_title() == drawn["title"]
        assert set(drawn["legend"]) <= set(mpl_texts(fig))
        # the lines are the means over seeds; the bands span lowest..highest
        assert np.allclose(ax.lines[0].get_ydata(), [20, 30, 40])
        assert np.allclose(ax.lines[1].get_ydata(), [50, 60, 70])
        band = ax.collections[0].get_paths()[0].vertices
        assert band[:, 1].min() == 10 and band[:, 1].max() == 50


@pytest.mark.parametrize("argv,message", [
    ([], "give DIR (an ImageFolder root with train/ and val/) or both --train and --val"),
    (["{data}", "--train", "{data}/train"], "give DIR (with train/ and val/ inside) or "),
    (["--train", "{data}/train"], "give DIR"),
    (["--train", "{data}/train", "--val", "{data}/nope"], "no such folder"),
    (["{data}", "--arch", "vgg"], "--arch vgg: the model families with both inputs are"),
    (["{data}", "--gate-k", "8"], "--gate-k goes with --gate"),
    (["{data}", "--epochs", "0"], "--epochs must be >= 1"),
    (["{data}", "--seeds", "0"], "--seeds must be >= 1"),
    (["{data}", "--mask", "dctnet23"], "dctnet23"),
    (["{data}", "--lr", "0"], "--lr and --gate-lr-scale must be > 0"),
])
def test_compare_mistakes_are_one_line_usage_errors(data, capsys, argv, message):
    argv = [a.format(data=data) for a in argv]
    assert main(["compare"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("freqload compare: error: ") and message in err
    assert err.count("\n") == 1


def test_resnet_mini_shapes():
    from freqload.models import count_macs, create_model

    dct = create_model("resnet_mini_dct", mask="dctnet24", num_classes=5)
    rgb = create_model("resnet_mini", num_classes=5)
    import torch

    assert dct(torch.zeros(2, 24, 28, 28)).shape == (2, 5)
    assert rgb(torch.zeros(2, 3, 112, 112)).shape == (2, 5)
    # widths 16, 32, 64, 128: the classifier reads 128 features
    assert dct.fc.in_features == rgb.fc.in_features == 128 and rgb.conv1.out_channels == 16
    # the DCT grid enters where the RGB stem's output is (28x28 after conv1 + max-pool)
    assert count_macs(dct, (24, 28, 28)) < count_macs(rgb, (3, 112, 112))


@needs_shared
def test_compare_on_hymenoptera_with_its_gif(tmp_path):
    """The ants/bees set (one GIF among the training JPEGs: decoded from pixels by the
    default on_error="fallback", as the RGB loader reads it): one epoch, one seed."""
    root = os.path.join(PHOTOS, "hymenoptera")
    report = cmp.compare(os.path.join(root, "train"), os.path.join(root, "val"), seeds=[0],
                         engine="native", **{**TINY, "epochs": 1, "batch_size": 32})
    st = report["settings"]
    assert st["classes"] == ["ants", "bees"] and st["train_images"] > 200
    for v in report["variants"]:
        assert len(v["runs"][0]["top1"]) == 1


def test_an_interrupted_compare_keeps_the_finished_variants(data, tmp_path, capsys,
                                                            monkeypatch):
    """Ctrl-C during the RGB variant: one line, exit 130, and the JSON holds the DCT
    variant that finished ("complete": false)."""
    real = cmp._Experiment.run

    def run(self, v, seed, gate_stats=None):
        if v.input == "rgb":
            raise KeyboardInterrupt
        return real(self, v, seed, gate_stats)

    monkeypatch.setattr(cmp._Experiment, "run", run)
    js = tmp_path / "r.json"
    assert main(["compare", data, "--epochs", "1", "--seeds", "1", "--size", "4",
                 "--workers", "0", "--engine", "native", "--stats-images", "10",
                 "--json", str(js)]) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"freqload compare: interrupted; the finished variants " \
                                   f"are in {js}"
    report = json.loads(js.read_text())
    assert report["complete"] is False
    assert [v["name"] for v in report["variants"]] == ["dct-dctnet24"]


def test_a_flat_folder_is_refused_naming_it(tmp_path, capsys):
    """compare needs labels: a flat folder of JPEGs (no class sub-folders) is one line."""
    from conftest import pillow_jpeg, rng_image

    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "a.jpg").write_bytes(pillow_jpeg(rng_image(16, 16)))
    assert main(["compare", str(tmp_path), "--epochs", "1", "--seeds", "1", "--workers",
                 "0"]) == 1
    err = capsys.readouterr().err
    assert err == (f"freqload compare: error: the train folder {tmp_path / 'train'} has no "
                   "class sub-folders (an ImageFolder: one folder per class)\n")


def test_augment_goes_to_both_variants_and_reproduces(data):
    """--augment: the policy on both variants' training samples (the report says so, the
    RGB side on Pillow), the same run again for the same seed, and a different run from
    the one without it."""
    kw = {**TINY, "engine": "native", "rgb_engine": "auto", "num_workers": 1}
    train, val = os.path.join(data, "train"), os.path.join(data, "val")
    a = cmp.compare(train, val, seeds=[3], augment="trivialaugment", **kw)
    b = cmp.compare(train, val, seeds=[3], augment="trivialaugment", **kw)
    plain = cmp.compare(train, val, seeds=[3], **{**kw, "rgb_engine": "torch"})
    assert a["settings"]["augment"].startswith("[TrivialAugmentWide(")
    assert "augment [TrivialAugmentWide" in cmp.table(a)
    assert a["variants"][1]["loader"].startswith("torch")
    for va, vb, vp in zip(a["variants"], b["variants"], plain["variants"]):
        assert va["runs"][0]["loss"] == vb["runs"][0]["loss"]
        assert va["runs"][0]["loss"] != vp["runs"][0]["loss"]
