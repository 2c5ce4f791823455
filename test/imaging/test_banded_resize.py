"""The two-thread resize gives exactly Pillow's one-thread bilinear pixels, or does not split."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from edge_ai_ros.imaging.banded_resize import BandedResizer, split_row
from edge_ai_ros.manifest import PreprocessSpec
from edge_ai_ros.preprocess import preprocess


@pytest.fixture
def resizer() -> Iterator[BandedResizer]:
    r = BandedResizer()
    yield r
    r.close()


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(("src", "out"), [
    ((640, 480), (320, 240)),  # the camera frame into the demo detector's letterbox
    ((1280, 720), (320, 180)),
    ((1920, 1080), (320, 180)),
    ((640, 480), (416, 240)),  # only the vertical scale must be an integer
])
def test_split_resize_is_bit_identical_to_pillow(resizer: BandedResizer, src: tuple[int, int],
                                                 out: tuple[int, int]) -> None:
    assert split_row(src[1], out[1]) is not None
    image = _image(*src)
    expected = np.asarray(image.resize(out, Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resizer.resize(image, *out), expected)


@pytest.mark.parametrize(("src_h", "out_h"), [(250, 240), (480, 204), (480, 24)])
def test_no_split_when_it_could_differ_or_is_too_small(resizer: BandedResizer, src_h: int, out_h: int) -> None:
    assert split_row(src_h, out_h) is None
    image = _image(333, src_h, seed=1)
    expected = np.asarray(image.resize((320, out_h), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resizer.resize(image, 320, out_h), expected)


def test_preprocess_with_resizer_equals_preprocess_without(resizer: BandedResizer) -> None:
    spec = PreprocessSpec(width=320, height=320)
    rgb = np.asarray(_image(640, 480, seed=2))
    plain, plain_transform = preprocess(rgb, spec)
    banded, banded_transform = preprocess(rgb, spec, resizer)
    np.testing.assert_array_equal(banded, plain)
    assert banded_transform == plain_transform


def test_close_joins_the_helper_thread() -> None:
    r = BandedResizer()
    r.resize(_image(640, 480), 320, 240)
    assert any(t.name.startswith("banded_resize") for t in threading.enumerate())
    r.close()
    assert not any(t.name.startswith("banded_resize") for t in threading.enumerate())
