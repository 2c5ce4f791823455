"""Decoders: raw model outputs -> results in original-image coordinates, chosen by the manifest."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from edge_ai_ros.decoders.base import DecodedFrame, Decoder
from edge_ai_ros.decoders.classification import ClassificationDecoder
from edge_ai_ros.decoders.detection import LayoutDecoder
from edge_ai_ros.decoders.segmentation import SegmentationDecoder
from edge_ai_ros.decoders.yolo import YoloDecoder
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform

DECODERS: dict[str, type[YoloDecoder] | type[ClassificationDecoder] | type[SegmentationDecoder]] = {
    "yolo": YoloDecoder,
    "classification": ClassificationDecoder,
    "segmentation": SegmentationDecoder,
}
# the demo's single-output layouts keep their own fast decoder; every other layout goes through the registry
_SINGLE_OUTPUT_YOLO = ("yolov5", "yolov8")

DecodeFn = Callable[[Mapping[str, np.ndarray], LetterboxTransform], DecodedFrame]

__all__ = ["DECODERS", "DecodeFn", "DecodedFrame", "Decoder", "bind_outputs", "make_decoder"]


def make_decoder(spec: DecoderSpec, labels: tuple[str, ...] | list[str]) -> Decoder:
    """The decoder named by ``spec.kind`` (and, for detection, ``spec.layout``)."""
    try:
        factory = DECODERS[spec.kind]
    except KeyError:
        raise ManifestError(
            f"decoder.kind {spec.kind!r} is unknown",
            fix=f"use one of {', '.join(DECODERS)}",
        ) from None
    if spec.kind == "yolo" and spec.layout not in _SINGLE_OUTPUT_YOLO:
        return LayoutDecoder(spec, tuple(labels))
    return factory(spec, tuple(labels))


def bind_outputs(decoder: Decoder, outputs: Sequence[TensorSpec], primary: TensorSpec) -> DecodeFn:
    """Check the engine's outputs against ``decoder`` once; return the per-frame call on all outputs."""
    if isinstance(decoder, LayoutDecoder):
        names = decoder.check_outputs(outputs if not decoder.layout.spec.output else (primary,))
        multi = decoder
        return lambda arrays, transform: multi.decode_outputs([arrays[n] for n in names], transform)
    decoder.check_output(primary)
    name, single = primary.name, decoder
    return lambda arrays, transform: single.decode(arrays[name], transform)
