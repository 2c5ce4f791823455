"""Classification decoder: top-k from logits and from probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ai_ros.decoders import make_decoder
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform

LABELS = ("a", "b", "c", "d")
IDENTITY = LetterboxTransform(scale_x=1, scale_y=1, pad_x=0, pad_y=0, orig_width=4, orig_height=4)


def test_logits_are_softmaxed_and_ranked() -> None:
    logits = np.log(np.array([[1.0, 4.0, 2.0, 3.0]], np.float32))  # softmax -> 0.1, 0.4, 0.2, 0.3
    result = make_decoder(DecoderSpec(kind="classification", top_k=3), LABELS).decode(logits, IDENTITY)
    cls = result.classification
    assert cls is not None
    assert cls.class_ids == (1, 3, 2) and cls.labels == ("b", "d", "c")
    assert cls.scores == pytest.approx((0.4, 0.3, 0.2), abs=1e-6)


def test_probabilities_are_kept_as_they_are() -> None:
    probs = np.array([[0.1, 0.2, 0.6, 0.1]], np.float32)
    cls = make_decoder(DecoderSpec(kind="classification", top_k=1), LABELS).decode(probs, IDENTITY).classification
    assert cls is not None and cls.class_ids == (2,) and cls.scores == pytest.approx((0.6,))


def test_forced_softmax_applies_to_probability_like_rows() -> None:
    probs = np.array([[0.25, 0.25, 0.25, 0.25]], np.float32)
    spec = DecoderSpec(kind="classification", top_k=4, activation="softmax")
    cls = make_decoder(spec, LABELS).decode(probs, IDENTITY).classification
    assert cls is not None and sum(cls.scores) == pytest.approx(1.0)


def test_top_k_larger_than_classes() -> None:
    cls = make_decoder(DecoderSpec(kind="classification", top_k=10), LABELS).decode(
        np.zeros((1, 4, 1, 1), np.float32), IDENTITY).classification
    assert cls is not None and len(cls.class_ids) == 4


def test_label_count_mismatch_is_refused() -> None:
    with pytest.raises(ManifestError, match="10 classes but the manifest has 4 labels"):
        make_decoder(DecoderSpec(kind="classification"), LABELS).check_output(
            TensorSpec(name="logits", shape=(1, 10), dtype="float32"))
