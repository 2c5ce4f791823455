"""Image -> input tensor: letterbox and normalise.

The node, calibration, training and evaluation all call this one function, so an INT8
engine is calibrated on exactly the tensors it will see in service.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from edge_ai_ros.errors import InvalidInputError
from edge_ai_ros.imaging.banded_resize import BandedResizer
from edge_ai_ros.imaging.box_reduce import box_reduce, exact_factor
from edge_ai_ros.manifest import PreprocessSpec


@dataclass(frozen=True, kw_only=True)
class LetterboxTransform:
    """Maps model-input pixels back to original-image pixels: orig = (p - pad) / scale."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    orig_width: int
    orig_height: int
    input_width: int = 0  # model-input size the pixels above refer to; 0 = unknown
    input_height: int = 0

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes [K, 4] x1 y1 x2 y2 in input pixels -> original pixels, clipped to the image."""
        out = np.empty_like(boxes, dtype=np.float32)
        # clip before storing: np.clip(out=...) on a fancy-indexed copy would change nothing
        out[:, 0::2] = np.clip((boxes[:, 0::2] - self.pad_x) / self.scale_x, 0.0, float(self.orig_width))
        out[:, 1::2] = np.clip((boxes[:, 1::2] - self.pad_y) / self.scale_y, 0.0, float(self.orig_height))
        return out


def _resize(image: np.ndarray, width: int, height: int, resample: str = "bilinear",
            resizer: BandedResizer | None = None) -> np.ndarray:
    """Resize through Pillow's C code (~2 ms for VGA to 320x240 bilinear; ~0.3 ms "fast").

    "fast" lets Pillow box-reduce by the integer part of the scale before the bilinear pass
    (reducing_gap=1); the result differs slightly from plain bilinear, so a model must be
    trained and served with the same setting (it is in the manifest). Where that is an exact
    2x or 4x reduce, numpy makes the same pixels faster (imaging/box_reduce.py; uint16 values 0-255,
    channel-planar). A ``resizer`` makes plain bilinear on two threads with the same pixels
    (imaging/banded_resize.py).
    """
    if image.shape[1] == width and image.shape[0] == height:
        return image
    if resample == "fast" and (factor := exact_factor(image.shape[1], image.shape[0], width, height)):
        return box_reduce(image, factor)
    if resizer is not None and resample == "bilinear":
        return resizer.resize(Image.fromarray(image), width, height)
    gap = 1.0 if resample == "fast" else None
    resized = Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR, reducing_gap=gap)
    return np.asarray(resized)


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInputError(
            "image", f"expected HxWx3 uint8, got shape {image.shape} dtype {image.dtype}",
            fix="convert to rgb8 before preprocessing",
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError("image", "has zero width or height", fix="send a non-empty image")


def _placement(src_w: int, src_h: int, spec: PreprocessSpec) -> tuple[int, int, int, int, LetterboxTransform]:
    """Where a src_w x src_h image lands in the model input: (width, height, x, y, transform)."""
    if not spec.letterbox:
        return spec.width, spec.height, 0, 0, LetterboxTransform(
            scale_x=spec.width / src_w, scale_y=spec.height / src_h, pad_x=0.0, pad_y=0.0,
            orig_width=src_w, orig_height=src_h, input_width=spec.width, input_height=spec.height,
        )
    scale = min(spec.width / src_w, spec.height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    pad_x, pad_y = (spec.width - new_w) // 2, (spec.height - new_h) // 2
    if spec.letterbox_position == "top_left":
        pad_x = pad_y = 0
    return new_w, new_h, pad_x, pad_y, LetterboxTransform(
        scale_x=new_w / src_w, scale_y=new_h / src_h, pad_x=float(pad_x), pad_y=float(pad_y),
        orig_width=src_w, orig_height=src_h, input_width=spec.width, input_height=spec.height,
    )


def letterbox(image: np.ndarray, spec: PreprocessSpec,
              resizer: BandedResizer | None = None) -> tuple[np.ndarray, LetterboxTransform]:
    """Resize an RGB uint8 HxWx3 image into spec.width x spec.height, keeping aspect if asked."""
    _check_image(image)
    new_w, new_h, pad_x, pad_y, transform = _placement(image.shape[1], image.shape[0], spec)
    resized = _resize(image, new_w, new_h, spec.resample, resizer)
    if not spec.letterbox:
        return resized, transform
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, transform


def normalize(image: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Letterboxed RGB uint8 HxWx3 -> float32 1x3xHxW (or 1xHxWx3) as the model expects."""
    shape = (3, *image.shape[:2]) if spec.layout == "nchw" else image.shape
    tensor = np.empty((1, *shape), dtype=np.float32)
    _normalize_into(image, spec, tensor[0])
    return tensor


def _normalize_into(image: np.ndarray, spec: PreprocessSpec, out: np.ndarray) -> None:
    """RGB uint8 HxWx3 -> ``out`` (3xHxW or HxWx3 float32, a view may be strided): scale, mean, std."""
    if spec.channel_order == "bgr":
        image = image[..., ::-1]
    if spec.layout == "nchw":
        image = image.transpose(2, 0, 1)
    np.multiply(image, np.float32(spec.scale), out=out, casting="unsafe")
    if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0):
        shape = (3, 1, 1) if spec.layout == "nchw" else (1, 1, 3)
        out -= np.asarray(spec.mean, np.float32).reshape(shape)
        out /= np.asarray(spec.std, np.float32).reshape(shape)


class InputCanvas:
    """The model-input tensor of one Perception, reused frame after frame.

    Why: the padding of a camera's letterbox is the same every frame, so only the image area
    is written, straight from the resized pixels into the float tensor (no uint8 canvas,
    no second pass over the padding). Bit-identical to letterbox + normalize. Measured on the demo
    detector (640x480 -> 320x320): 0.63 -> 0.57 ms back to back, ~0.05 ms less at 30 Hz.
    Not thread-safe, and the tensor a call returns is overwritten by the next call.
    """

    def __init__(self, spec: PreprocessSpec) -> None:
        self._spec = spec
        shape = (3, spec.height, spec.width) if spec.layout == "nchw" else (spec.height, spec.width, 3)
        self._tensor = np.empty((1, *shape), dtype=np.float32)
        self._area: tuple[int, int, int, int] | None = None  # (x, y, w, h) written last; None: pad everywhere

    def fill(self, image: np.ndarray,
             resizer: BandedResizer | None = None) -> tuple[np.ndarray, LetterboxTransform]:
        """RGB uint8 HxWx3 -> (the input tensor with batch 1, transform back to original pixels)."""
        _check_image(image)
        self._area, transform = _fill_slot(self._tensor[0], self._area, image, self._spec, resizer)
        return self._tensor, transform


Area = tuple[int, int, int, int]


def _fill_slot(slot: np.ndarray, last: Area | None, image: np.ndarray, spec: PreprocessSpec,
               resizer: BandedResizer | None) -> tuple[Area, LetterboxTransform]:
    """Write ``image`` letterboxed into one batch item ``slot``; pad only when its area moved from ``last``."""
    new_w, new_h, pad_x, pad_y, transform = _placement(image.shape[1], image.shape[0], spec)
    area = (pad_x, pad_y, new_w, new_h)
    if area != last:
        pad = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
        _normalize_into(pad, spec, slot)
    rows, cols = slice(pad_y, pad_y + new_h), slice(pad_x, pad_x + new_w)
    view = slot[:, rows, cols] if spec.layout == "nchw" else slot[rows, cols]
    _normalize_into(_resize(image, new_w, new_h, spec.resample, resizer), spec, view)
    return area, transform


def check_image(image: np.ndarray) -> None:
    """Raise InvalidInputError unless ``image`` is a non-empty RGB uint8 HxWx3 array."""
    _check_image(image)


class BatchCanvas:
    """Input tensors of up to ``max_batch`` frames (e.g. one per camera), a ring of ``buffers`` of them.

    As InputCanvas, each batch item keeps its camera's padding and only the image area is
    written. The ring lets a pipeline fill the next batch while earlier ones are still queued
    or running: a tensor is reused ``buffers`` calls later. Not thread-safe.
    """

    def __init__(self, spec: PreprocessSpec, max_batch: int, buffers: int = 4) -> None:
        self._spec, self.max_batch = spec, max_batch
        shape = (3, spec.height, spec.width) if spec.layout == "nchw" else (spec.height, spec.width, 3)
        self._tensors = [np.empty((max_batch, *shape), dtype=np.float32) for _ in range(buffers)]
        self._areas: list[list[Area | None]] = [[None] * max_batch for _ in range(buffers)]
        self._next = 0

    @property
    def spec(self) -> PreprocessSpec:
        return self._spec

    def fill(self, images: list[np.ndarray],
             resizer: BandedResizer | None = None) -> tuple[np.ndarray, list[LetterboxTransform]]:
        """RGB uint8 HxWx3 images (checked, at most max_batch) -> (tensor [len(images), ...], transforms)."""
        if not 0 < len(images) <= self.max_batch:
            raise ValueError(f"{len(images)} images for a canvas of {self.max_batch}")  # a caller bug
        tensor, areas = self._tensors[self._next], self._areas[self._next]
        self._next = (self._next + 1) % len(self._tensors)
        transforms = []
        for k, image in enumerate(images):
            areas[k], transform = _fill_slot(tensor[k], areas[k], image, self._spec, resizer)
            transforms.append(transform)
        return tensor[: len(images)], transforms


def preprocess(image: np.ndarray, spec: PreprocessSpec,
               resizer: BandedResizer | None = None) -> tuple[np.ndarray, LetterboxTransform]:
    """RGB uint8 HxWx3 -> (a new input tensor with batch 1, transform back to original pixels).

    The same code the node runs (a fresh InputCanvas), so calibration and training see exactly
    the tensors served; :func:`letterbox` + :func:`normalize` stay as the plain reference.
    """
    return InputCanvas(spec).fill(image, resizer)
