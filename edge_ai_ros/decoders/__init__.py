"""Decoders: raw model outputs -> results in original-image coordinates, chosen by the manifest."""

from __future__ import annotations

from edge_ai_ros.decoders.base import DecodedFrame, Decoder
from edge_ai_ros.decoders.classification import ClassificationDecoder
from edge_ai_ros.decoders.segmentation import SegmentationDecoder
from edge_ai_ros.decoders.yolo import YoloDecoder
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec

DECODERS: dict[str, type[YoloDecoder] | type[ClassificationDecoder] | type[SegmentationDecoder]] = {
    "yolo": YoloDecoder,
    "classification": ClassificationDecoder,
    "segmentation": SegmentationDecoder,
}

__all__ = ["DECODERS", "DecodedFrame", "Decoder", "make_decoder"]


def make_decoder(spec: DecoderSpec, labels: tuple[str, ...] | list[str]) -> Decoder:
    """The decoder named by ``spec.kind``."""
    try:
        factory = DECODERS[spec.kind]
    except KeyError:
        raise ManifestError(
            f"decoder.kind {spec.kind!r} is unknown",
            fix=f"use one of {', '.join(DECODERS)}",
        ) from None
    return factory(spec, tuple(labels))
