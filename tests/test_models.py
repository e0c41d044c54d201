"""Model adapters and the frequency gate.

References: torchvision's published parameter counts and GFLOPs for the RGB
models and its state_dict key names (written out here, no torchvision import),
the DCT models' shape rules from the issue, and a toy task whose useful channels
are known.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import freqload
from freqload import models
from freqload.models import count_macs, create_model, load_rgb_pretrained
from freqload.models.gate import FrequencyGate, GateStats, gate_loss, mask_from_gate_stats

# torchvision's model cards: parameters and GFLOPs (multiply-accumulates) at 224x224
TORCHVISION = {"resnet18": (11_689_512, 1.81), "resnet34": (21_797_672, 3.66),
               "resnet50": (25_557_032, 4.09), "mobilenet_v2": (3_504_872, 0.30)}


def params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_rgb_models_match_torchvision_counts(name):
    m = create_model(name)
    n, gflops = TORCHVISION[name]
    assert params(m) == n
    assert count_macs(m, (3, 224, 224)) / 1e9 == pytest.approx(gflops, abs=0.01)


CONFIGS = [("resnet18_dct", {}), ("resnet34_dct", {}), ("resnet50_dct", {}),
           ("resnet50_dct", {"layer2_stride": 1}), ("mobilenet_v2_dct", {}),
           ("resnet18", {}), ("resnet50", {}), ("mobilenet_v2", {})]


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}{'-s1' if k else ''}" for n, k in CONFIGS])
def test_forward_backward(name, kw, capsys):
    """Every model runs forward and backward at its input, and every parameter gets a
    gradient. It prints each model's parameter and MAC counts; of those it checks only
    resnet50_dct's MACs (against the RGB ResNet-50's). The RGB twins' counts are checked
    against torchvision's published figures in test_rgb_models_match_torchvision_counts."""
    torch.manual_seed(0)
    dct = name.endswith("_dct")
    mask = freqload.ChannelMask.dctnet24()
    m = create_model(name, mask=mask, num_classes=10, **kw)
    shape = (len(mask), 56, 56) if dct else (3, 224, 224)
    x = torch.randn(2, *shape, requires_grad=True)
    out = m(x)
    assert out.shape == (2, 10)
    out.logsumexp(1).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in m.parameters())
    macs = count_macs(m, shape)
    with capsys.disabled():
        print(f"\n  {name} {kw or ''}: input {list(shape)}, {params(m):,} parameters, "
              f"{macs / 1e9:.3f} GMACs", end="")
    if name == "resnet50_dct":
        std = count_macs(create_model("resnet50_dct", num_classes=10), shape)
        if kw:  # DCTNet's layer2 stride 1: about 3x the FLOPs
            assert 3.0 < macs / std < 3.7
        else:  # standard FLOPs: within 5% of RGB ResNet-50 at 224
            rgb = count_macs(create_model("resnet50", num_classes=10), (3, 224, 224))
            assert abs(macs / rgb - 1) < 0.05


def test_dct_input_shapes_follow_the_mask():
    for mask in ("dctnet24", "dctnet64", "all"):
        c = len(freqload.ChannelMask.preset(mask))
        r = models.resnet18_dct(mask=mask, num_classes=5)
        assert r.layer1[0].conv1.in_channels == c
        if c == 64:  # already layer1's width: no projection needed
            assert r.layer1[0].downsample is None
        else:
            assert r.layer1[0].downsample[0].in_channels == c
        assert not hasattr(r, "conv1") and not hasattr(r, "maxpool")
        b = models.mobilenet_v2_dct(mask=mask, num_classes=5)
        assert isinstance(b.features[0], nn.Identity)
        assert b.features[1].conv[0][0].in_channels == c and b.features[1].conv[0][0].groups == c
        assert b.features[1].conv[1].in_channels == c
        assert r(torch.zeros(1, c, 28, 28)).shape == (1, 5)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("vgg16")
    with pytest.raises(ValueError, match="layer2_stride"):
        models.resnet50_dct(layer2_stride=3)


# torchvision key names and shapes, written out (not derived from freqload's code)
TV_KEYS = {
    "resnet18": {"conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,),
                 "layer1.0.conv1.weight": (64, 64, 3, 3), "layer2.0.downsample.0.weight":
                 (128, 64, 1, 1), "layer4.1.bn2.running_var": (512,), "fc.weight": (1000, 512),
                 "fc.bias": (1000,)},
    "resnet50": {"conv1.weight": (64, 3, 7, 7), "layer1.0.conv1.weight": (64, 64, 1, 1),
                 "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                 "layer1.0.conv3.weight": (256, 64, 1, 1), "layer3.5.bn3.weight": (1024,),
                 "fc.weight": (1000, 2048)},
    "mobilenet_v2": {"features.0.0.weight": (32, 3, 3, 3), "features.0.1.weight": (32,),
                     "features.1.conv.0.0.weight": (32, 1, 3, 3),
                     "features.1.conv.1.weight": (16, 32, 1, 1),
                     "features.2.conv.0.0.weight": (96, 16, 1, 1),
                     "features.17.conv.2.weight": (320, 960, 1, 1),
                     "features.18.0.weight": (1280, 320, 1, 1),
                     "classifier.1.weight": (1000, 1280)},
}


@pytest.mark.parametrize("rgb", sorted(TV_KEYS))
def test_load_rgb_pretrained_into_the_dct_body(rgb, tmp_path):
    torch.manual_seed(1)
    src = create_model(rgb)
    state = src.state_dict()
    for k, shape in TV_KEYS[rgb].items():  # the file is in torchvision's naming
        assert tuple(state[k].shape) == shape, k
    with torch.no_grad():
        for v in state.values():
            if v.is_floating_point():
                v.normal_()
    state = dict(state)
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / f"{rgb}.pth"
    torch.save(state, path)

    torch.manual_seed(2)
    dst = create_model(f"{rgb}_dct", mask="dctnet32")
    fresh = {k: v.clone() for k, v in dst.state_dict().items()}
    report = load_rgb_pretrained(dst, path, verbose=False)
    adapted = set(dst.adapted_keys())
    assert adapted and set(report["adapted"]) == adapted & set(state)
    assert report["unexpected"] == ["extra.weight"]
    new = set(dst.state_dict()) - set(state)  # modules the RGB model lacks
    assert set(report["missing"]) == new
    if rgb in ("resnet18", "resnet34"):  # the 1x1 projection gained for C != 64
        assert new == {k for k in dst.state_dict() if k.startswith("layer1.0.downsample.")}
    else:
        assert new == set()
    stem = ("conv1.", "bn1.") if rgb.startswith("resnet") else ("features.0.",)
    assert report["dropped_stem"] and all(k.startswith(stem) for k in report["dropped_stem"])
    for k, v in dst.state_dict().items():
        if k in adapted or k in new:  # fresh init kept
            assert torch.equal(v, fresh[k])
        elif k in state and state[k].shape == v.shape:
            assert torch.equal(v, state[k]), k
    for k in dst.state_dict():  # every body tensor came from the file, or is fresh
        assert k in report["loaded"] or k in adapted or k in new, k


def test_input_norm_from_stats(tmp_path):
    from freqload.loading.stats import ChannelStats

    mean = np.arange(192, dtype=np.float64)
    std = np.full(192, 2.0)
    stats = ChannelStats(mean=mean, std=std, images=3, chroma="dct")
    stats.save(tmp_path / "s.json")
    m = create_model("resnet18_dct", mask="dctnet24", num_classes=3, stats=tmp_path / "s.json")
    idx = list(freqload.ChannelMask.dctnet24().indices)
    x = torch.tensor(mean[idx], dtype=torch.float32).view(1, -1, 1, 1).expand(1, 24, 4, 4)
    assert torch.allclose(m.input_norm(x), torch.zeros(1, 24, 4, 4))
    assert m.input_norm(x + 2).allclose(torch.ones(1, 24, 4, 4))


# ---- the gate ---------------------------------------------------------------------------

def test_gate_starts_open_and_gradients_reach_the_logits():
    torch.manual_seed(0)
    gate = FrequencyGate(24)
    x = torch.randn(16, 24, 7, 7)
    y, g = gate(x)
    assert g.shape == (16, 24) and set(g.unique().tolist()) <= {0.0, 1.0}
    assert g.mean() > 0.8  # initialised open
    (y.sum() + gate_loss(g)).backward()
    assert gate.logits.weight.grad is not None and gate.logits.weight.grad.abs().sum() > 0
    assert gate.logits.bias.grad.abs().sum() > 0
    gate.eval()
    _, ge = gate(x)
    assert torch.equal(ge, torch.ones_like(ge))


def test_gate_learns_the_useful_channels_on_a_toy_task():
    """Channels 3 and 10 of 16 carry the label; the rest are noise. Training with the gate
    loss closes the noise channels and the derived mask keeps 3 and 10."""
    torch.manual_seed(0)
    C, useful = 16, (3, 10)
    gate = FrequencyGate(C, temperature=0.5)
    head = nn.Sequential(nn.Flatten(), nn.Linear(C * 4, 2))
    pool = nn.AdaptiveAvgPool2d(2)
    opt = torch.optim.Adam(list(gate.parameters()) + list(head.parameters()), lr=0.02)
    for step in range(300):
        x = torch.randn(64, C, 4, 4)
        y = ((x[:, useful[0]].mean((1, 2)) + x[:, useful[1]].mean((1, 2))) > 0).long()
        xg, g = gate(x)
        loss = nn.functional.cross_entropy(head(pool(xg)), y) + 0.5 * gate_loss(g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    stats = GateStats(list(range(C)))
    with torch.no_grad():
        for _ in range(10):
            _, g = gate(torch.randn(64, C, 4, 4))
            stats.update(g)
    f = stats.frequency
    assert all(f[u] > 0.9 for u in useful), f
    assert np.mean([f[i] for i in range(C) if i not in useful]) < 0.2, f
    assert set(mask_from_gate_stats(stats, 2).indices) == set(useful)


def test_gate_stats_round_trip_cli_and_heatmap(tmp_path):
    from freqload.tools.cli import main

    stats = GateStats()  # all 192
    g = torch.zeros(4, 192)
    g[:, [0, 1, 8, 64, 128]] = 1
    g[:2, 9] = 1  # half the time
    stats.update(g)
    stats.save(tmp_path / "g.json")
    back = GateStats.load(tmp_path / "g.json")
    assert back.channels == stats.channels and np.array_equal(back.open, stats.open)
    assert list(mask_from_gate_stats(back, 6).indices) == [0, 1, 8, 9, 64, 128]
    assert list(mask_from_gate_stats(back, 2).indices) == [0, 1]  # ties: lower index first
    assert main(["mask", "--from-gate", str(tmp_path / "g.json"), "-k", "5", "-o",
                 str(tmp_path / "m.json"), "--heatmap", str(tmp_path / "h.png")]) == 0
    m = freqload.ChannelMask.load(tmp_path / "m.json")
    assert list(m.indices) == [0, 1, 8, 64, 128]
    with Image.open(tmp_path / "h.png") as im:
        assert im.size[0] > im.size[1] > 100
    with pytest.raises(ValueError, match="k must be"):
        mask_from_gate_stats(back, 0)


def test_mask_from_gate_stats_gives_grid_indices_not_positions():
    # the gate's inputs are grid channels 130, 5, 70, 64, 9 (in that order); positions
    # 0 and 2 are open most, so the mask is grid channels 130 and 70, not 0 and 2
    stats = GateStats([130, 5, 70, 64, 9])
    stats.update(torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.5], [1.0, 0.0, 1.0, 1.0, 0.5]]))
    assert list(mask_from_gate_stats(stats, 2).indices) == [70, 130]
    # third: 64 (position 3) and 9 (position 4) are open equally often; ties go to the
    # lower grid index, not the lower position
    assert list(mask_from_gate_stats(stats, 3).indices) == [9, 70, 130]
    tie = GateStats([130, 64, 9])
    tie.update(torch.tensor([[1.0, 0.5, 0.5]]))
    assert list(mask_from_gate_stats(tie, 2).indices) == [9, 130]
    dct = GateStats("dctnet24")  # a mask's channels: positions != indices beyond 3
    g = torch.zeros(1, 24)
    g[0, 23] = 1  # the last channel of dctnet24
    dct.update(g)
    top = freqload.ChannelMask.dctnet24().indices[23]
    assert list(mask_from_gate_stats(dct, 1).indices) == [top]


@pytest.mark.parametrize("content,match", [
    ("not json", "not JSON"),
    ('[1, 2]', "not a freqload-gate-stats"),
    ('{"format": "other"}', "not a freqload-gate-stats"),
    ('{"format": "freqload-gate-stats/1", "channels": [0, 1]}', "missing open, samples"),
    ('{"format": "freqload-gate-stats/1", "channels": [0, 1], "open": [1], "samples": 2}',
     "1 counts for 2 channels"),
    ('{"format": "freqload-gate-stats/1", "channels": [0, 192], "open": [1, 1], "samples": 2}',
     r"\[0, 192\)"),
    ('{"format": "freqload-gate-stats/1", "channels": [3, 3], "open": [1, 1], "samples": 2}',
     "distinct"),
    ('{"format": "freqload-gate-stats/1", "channels": [0, 1], "open": [3, 1], "samples": 2}',
     "counts must lie"),
    ('{"format": "freqload-gate-stats/1", "channels": ["a"], "open": [1], "samples": 2}',
     "malformed"),
])
def test_gate_stats_load_refuses_bad_files(tmp_path, content, match):
    path = tmp_path / "g.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        GateStats.load(path)


def test_soft_gates_and_eval_mode_closing_channels():
    torch.manual_seed(0)
    x = torch.randn(6, 8, 4, 4)
    soft = FrequencyGate(8, hard=False, temperature=1.0)
    y, g = soft(x)
    assert ((g > 0) & (g < 1)).float().mean() > 0.9  # soft: strictly between 0 and 1
    torch.testing.assert_close(y, x * g[:, :, None, None])
    y.sum().backward()
    assert soft.logits.bias.grad.abs().sum() > 0
    gate = FrequencyGate(8)
    with torch.no_grad():  # channels 1, 4, 6: "closed" logit above "open"
        bias = gate.logits.bias.view(8, 2)
        bias[:, 0], bias[:, 1] = 0.0, 3.0
        bias[[1, 4, 6], 0] = 6.0
    gate.eval()
    y, g = gate(x)
    expect = torch.ones(8)
    expect[[1, 4, 6]] = 0
    assert torch.equal(g, expect.expand(6, 8))  # deterministic in eval mode
    assert torch.equal(y[:, [1, 4, 6]], torch.zeros(6, 3, 4, 4))
    assert torch.equal(y[:, [0, 2, 3, 5, 7]], x[:, [0, 2, 3, 5, 7]])


def test_the_registry_is_one_config_per_model():
    """Every model has a config that says what it reads and which keys are its stem and
    classifier (checked here against the modules it builds), and carries it."""
    assert sorted(models.MODELS) == sorted(models.CONFIGS)
    for name, config in models.CONFIGS.items():
        m = models.MODELS[name](num_classes=7) if not config.dct else \
            models.MODELS[name]("dctnet32", 7)
        assert m.config is config and config.name == name
        assert config.dct == name.endswith("_dct") and config.input in ("dct", "rgb")
        keys = list(m.state_dict())
        # the classifier prefixes hold the last Linear; the stem exists only in RGB models
        assert any(k.startswith(config.classifier) and k.endswith("weight") for k in keys)
        assert any(k.startswith(config.stem) for k in keys) != config.dct
        twin = models.CONFIGS[name.replace("_dct", "")]
        assert (twin.family, twin.stem, twin.classifier) == \
            (config.family, config.stem, config.classifier)
        x = torch.zeros(1, 32 if config.dct else 3, *config.grid)
        assert m.eval()(x).shape == (1, 7)
    with pytest.raises(ValueError, match="made by freqload.models"):
        load_rgb_pretrained(nn.Linear(2, 2), {}, verbose=False)
