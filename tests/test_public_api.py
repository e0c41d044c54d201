"""The public face: what the documentation tells a user to call resolves from
``import freqload``, and ``import freqload`` needs no torch; the loaders take the recipe
and the source as objects, and the keywords that moved say where they went."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import freqload

from conftest import ROOT


def test_every_name_in_all_resolves():
    for name in freqload.__all__:
        assert getattr(freqload, name) is not None, name
    assert freqload.RGBLoader.__name__ == "RGBLoader"
    assert set(freqload.__all__) <= set(dir(freqload))


def test_import_freqload_needs_no_torch():
    code = ("import sys, freqload; freqload.read_header; freqload.Recipe(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_the_loaders_take_the_recipe_and_keep_few_parameters():
    params = [p for p in inspect.signature(freqload.DCTLoader).parameters.values()
              if p.kind is not p.VAR_KEYWORD]
    assert [p.name for p in params[:2]] == ["source", "recipe"]
    assert len(params) <= 18  # 17 and the deprecated num_threads
    rgb = [p for p in inspect.signature(freqload.RGBLoader).parameters.values()
           if p.kind is not p.VAR_KEYWORD]
    assert len(rgb) <= 15


def test_the_old_keywords_still_work_with_a_deprecation_warning(tmp_path):
    """The keywords before the recipe and the source were objects: the same loader as the
    new form, a DeprecationWarning saying where each goes; unknown keywords and old
    keywords beside the object they belong to are TypeErrors."""
    from conftest import assert_same_batches, pillow_jpeg, rng_image

    for c in range(2):
        (tmp_path / f"c{c}").mkdir()
        for k in range(3):
            (tmp_path / f"c{c}" / f"{k}.jpg").write_bytes(
                pillow_jpeg(rng_image(40 + 8 * k, 48, seed=10 * c + k), subsampling=2))
    kw = dict(batch_size=4, size=(4, 4), engine="native", num_workers=0, normalize=False,
              train=True, seed=3)
    with pytest.warns(DeprecationWarning, match=r"recipe=freqload.Recipe\(...\)\) for chroma, "
                                                 r"scale.*Source\(path, ...\)\) for "
                                                 "shuffle_buffer"):
        old = freqload.DCTLoader(str(tmp_path), chroma="nearest", scale=(0.5, 1.0),
                                 shuffle_buffer=10, **kw)
    new = freqload.DCTLoader(freqload.Source(str(tmp_path), shuffle_buffer=10),
                             freqload.Recipe(chroma="nearest",
                                             transform=freqload.Transform("train", (0.5, 1.0))),
                             **kw)
    assert old.recipe == new.recipe
    assert_same_batches(old, new)
    with pytest.raises(TypeError, match="unexpected keyword argument.*'colour'"):
        freqload.DCTLoader(str(tmp_path), batch_size=2, colour="red")
    with pytest.raises(TypeError, match="chroma go in the recipe given"):
        freqload.DCTLoader(str(tmp_path), freqload.Recipe(), batch_size=2, chroma="dct")
    with pytest.raises(TypeError, match="cache_dir go in the Source given"):
        freqload.DCTLoader(freqload.Source(str(tmp_path)), batch_size=2, cache_dir="x")
    with pytest.raises(TypeError, match="unexpected keyword argument.*'chroma'"):
        freqload.RGBLoader(str(tmp_path), batch_size=2, chroma="dct")
    with pytest.warns(DeprecationWarning, match="Source"):
        freqload.RGBLoader(str(tmp_path), batch_size=2, size=16, label_fn=lambda p: 0)
