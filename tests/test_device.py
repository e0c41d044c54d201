"""freqload.loading.device: the one normalisation and DCTLoader's post-stage.

References: float64 (x - mean) / std computed here with numpy; the loader's own raw
batches (normalize=None) for the post-stage.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import freqload
from freqload.loading.device import Normalize, PostStage
from freqload.models import InputNorm, create_model

from conftest import pillow_jpeg, rng_image


def _ref(x, mean, std):
    return (x.astype(np.float64) - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)


def test_normalize_is_mean_std_to_float_rounding():
    rng = np.random.default_rng(3)
    mean, std = rng.normal(size=24) * 60, rng.uniform(0.5, 120, size=24)
    x = rng.integers(-3000, 3000, size=(3, 24, 5, 6)).astype(np.int16)
    n = Normalize(mean, std)
    y = n(torch.from_numpy(x))
    assert y.dtype == torch.float32 and y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), _ref(x, mean, std), rtol=1e-5, atol=1e-4)
    one = n(torch.from_numpy(x[0]))  # [C, H, W] too
    assert torch.equal(one, y[0])
    for bad in [(np.zeros(3), np.array([1.0, 0.0, 1.0])), (np.zeros(3), np.ones(2))]:
        with pytest.raises(ValueError, match="positive std"):
            Normalize(*bad)


def test_models_and_loaders_share_it(tmp_path):
    assert InputNorm is Normalize
    from freqload.loading.rgb_loader import RGBSamples

    assert isinstance(RGBSamples([], [], 8).norm, Normalize)
    (tmp_path / "a").mkdir()
    for i in range(3):
        (tmp_path / "a" / f"{i}.jpg").write_bytes(pillow_jpeg(rng_image(40 + 8 * i, 56, seed=i)))
    stats = freqload.compute_channel_stats(sorted(str(p) for p in (tmp_path / "a").iterdir()),
                                           max_images=None)
    path = tmp_path / "stats.json"
    stats.save(path)
    kw = dict(batch_size=3, size=(5, 5), engine="native", num_workers=0, device="cpu")
    (raw, _), = list(freqload.DCTLoader(str(tmp_path), **kw))
    (norm, _), = list(freqload.DCTLoader(str(tmp_path), normalize=str(path), **kw))
    (i16, _), = list(freqload.DCTLoader(str(tmp_path), normalize=False, **kw))
    assert i16.dtype == torch.int16 and torch.equal(i16.float(), raw)
    model_norm = create_model("resnet18_dct", stats=str(path), num_classes=3).input_norm
    assert torch.equal(norm, model_norm(i16))  # the same module, the same float32 result
    mean, std = stats.select(freqload.ChannelMask.dctnet24())
    np.testing.assert_allclose(norm.numpy(), _ref(i16.numpy(), mean, std), rtol=1e-5, atol=1e-4)


def test_old_checkpoints_with_mean_and_std_still_load():
    rng = np.random.default_rng(5)
    mean, std = rng.normal(size=4), rng.uniform(1, 3, size=4)
    legacy = {"mean": torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
              "std": torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)}
    n = Normalize(np.zeros(4), np.ones(4))
    n.load_state_dict(legacy)
    x = rng.integers(-50, 50, size=(2, 4, 3, 3)).astype(np.int16)
    np.testing.assert_allclose(n(torch.from_numpy(x)).numpy(), _ref(x, mean, std), rtol=1e-5,
                               atol=1e-5)


def test_post_stage_kinds():
    x = torch.arange(-6, 6, dtype=torch.int16).view(1, 3, 2, 2)
    assert PostStage(False)(x) is x
    assert torch.equal(PostStage(None)(x), x.float())
    n = Normalize([1.0, 2.0, 3.0], [2.0, 4.0, 0.5])
    assert torch.equal(PostStage(n)(x), n(x))


def test_cpu_post_stage_is_torch_bit_for_bit_and_reuses_only_dropped_batches():
    """On the host the post-stage converts with numpy into reused float32 buffers (no
    OpenMP threads, no fresh memory): the same values as torch's ops, exactly; a batch the
    consumer still holds (or a view of it) is never written again."""
    rng = np.random.default_rng(11)
    mean, std = rng.normal(size=24) * 60, rng.uniform(0.5, 120, size=24)
    n = Normalize(mean, std)
    xs = [torch.from_numpy(rng.integers(-32768, 32767, size=(4, 24, 7, 9)).astype(np.int16))
          for _ in range(4)]
    for norm, ref in ((None, lambda x: x.float()), (n, n.forward)):
        post = PostStage(norm)
        kept = post(xs[0])
        assert kept.dtype == torch.float32 and torch.equal(kept, ref(xs[0]))
        view = post(xs[1])[1:3]  # only a view of the second batch survives
        first_copy, view_copy = kept.clone(), view.clone()
        y = post(xs[2])
        assert torch.equal(y, ref(xs[2]))
        ptr = y.data_ptr()
        del y  # dropped: its buffer serves the next batch
        again = post(xs[3])
        assert torch.equal(again, ref(xs[3])) and again.data_ptr() == ptr
        assert torch.equal(kept, first_copy) and torch.equal(view, view_copy)
    # a [C, H, W] sample and float input keep torch's path
    assert torch.equal(PostStage(n)(xs[0][0]), n(xs[0][0]))
    assert torch.equal(PostStage(None)(xs[0].float()), xs[0].float())
