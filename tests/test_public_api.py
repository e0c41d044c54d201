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


@pytest.mark.parametrize("keyword, where", [("transform", "recipe"), ("chroma", "recipe"),
                                            ("cache_dir", "source"), ("label_key", "source")])
def test_moved_keywords_say_where_they_went(keyword, where):
    with pytest.raises(TypeError, match=f"{keyword}: part of the {where} now"):
        freqload.DCTLoader("no/such/folder", batch_size=2, **{keyword: None})
    if where == "source":
        with pytest.raises(TypeError, match=f"{keyword}: part of the {where} now"):
            freqload.RGBLoader("no/such/folder", batch_size=2, **{keyword: None})
