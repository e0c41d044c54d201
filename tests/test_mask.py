import json

import numpy as np
import pytest

from freqload import ChannelMask
from freqload.codec.mask import ZIGZAG, as_mask, channel_name


def span(a, b):
    return list(range(a, b + 1))


PUBLISHED = {  # DCTNet's lists, typed in from the paper's code
    "dctnet24": (span(0, 3) + span(8, 11) + span(16, 19) + span(24, 27), [0, 1, 8, 9]),
    "dctnet32": (span(0, 4) + span(8, 12) + span(16, 20) + span(24, 27) + span(32, 34),
                 [0, 1, 2, 8, 9]),
    "dctnet48": (span(0, 5) + span(8, 13) + span(16, 21) + span(24, 29) + span(32, 35)
                 + span(40, 43), [0, 1, 2, 8, 9, 10, 16, 17]),
    "dctnet64": (span(0, 6) + span(8, 14) + span(16, 21) + span(24, 29) + span(32, 37)
                 + span(40, 45) + span(48, 53), [0, 1, 2, 8, 9, 10, 16, 17, 24, 25]),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_presets_are_the_published_lists(name):
    y, c = PUBLISHED[name]
    m = ChannelMask.preset(name)
    assert len(m) == int(name[6:])
    assert m.per_component() == (tuple(y), tuple(c), tuple(c))
    assert m.indices == tuple(y + [64 + i for i in c] + [128 + i for i in c])
    assert getattr(ChannelMask, name)() == m
    assert repr(m) == f"ChannelMask.{name}()"


def test_zigzag_all_and_names():
    m = ChannelMask.zigzag(y=6, cb=3)
    assert m.per_component() == ((0, 1, 2, 8, 9, 16), (0, 1, 8), (0, 1, 8))
    assert sorted(ZIGZAG) == list(range(64))
    assert ChannelMask.zigzag(y=64, cb=64) == ChannelMask.all()
    assert len(ChannelMask.all()) == 192
    assert channel_name(0) == "Y(0,0)" and channel_name(65) == "Cb(0,1)"
    assert channel_name(128 + 8 * 7 + 3) == "Cr(7,3)"
    assert ChannelMask.dctnet24().names[:5] == ["Y(0,0)", "Y(0,1)", "Y(0,2)", "Y(0,3)", "Y(1,0)"]


def test_json_round_trip(tmp_path):
    m = ChannelMask([5, 64, 130, 7])
    assert m.indices == (5, 7, 64, 130)
    assert ChannelMask.from_json(m.to_json()) == m
    assert json.loads(m.to_json())["names"] == ["Y(0,5)", "Y(0,7)", "Cb(0,0)", "Cr(0,2)"]
    p = tmp_path / "m.json"
    m.save(p)
    assert ChannelMask.load(p) == m
    assert as_mask(str(p)) == m
    assert ChannelMask.from_json("[1, 2]") == ChannelMask([1, 2])
    assert as_mask(None) == ChannelMask.all()
    assert as_mask("dctnet48") == ChannelMask.dctnet48()
    assert as_mask(np.array([3, 4])) == ChannelMask([3, 4])


@pytest.mark.parametrize("bad,exc,match", [
    ([], ValueError, "at least one"),
    ([192], ValueError, r"\[0, 192\)"),
    ([-1], ValueError, r"\[0, 192\)"),
    ([3, 3], ValueError, "repeat"),
    ([1.5], TypeError, "integers"),
    ([True], TypeError, "integers"),
])
def test_invalid_masks(bad, exc, match):
    with pytest.raises(exc, match=match):
        ChannelMask(bad)


def test_invalid_names_and_json():
    with pytest.raises(ValueError, match="preset"):
        ChannelMask.preset("dctnet23")
    with pytest.raises(ValueError, match="neither a preset"):
        as_mask("no-such-mask.json")
    with pytest.raises(ValueError, match="indices"):
        ChannelMask.from_json('{"x": 1}')
    with pytest.raises(ValueError, match="0..64"):
        ChannelMask.zigzag(y=65)
