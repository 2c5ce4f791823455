"""The accuracy gate: score a built engine against the FP32 reference on held-out frames.

There are no labels at compile time, so the FP32 model's own outputs are the ground truth:
for detectors, mAP@0.5 of the candidate's detections against FP32's (decoded with the
model's own decoder); for classifiers, top-1 agreement. Relative output error is always
recorded. A drop larger than ``max_drop`` points fails the compile with this report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from edge_ai_ros.compiler.backend_builders import InferFn
from edge_ai_ros.decoders import bind_outputs, make_decoder
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform
from edge_ai_ros.results import Detection

DEFAULT_MAX_DROP = 1.0  # points (mAP@0.5 x 100, or top-1 agreement in %)


@dataclass(frozen=True, kw_only=True)
class GateReport:
    """What the gate measured; goes into the manifest and into the error when it fails."""

    metric: str  # "map50", "top1_agreement" or "relative_error_only"
    candidate: float  # points, FP32 against itself scores 100
    drop: float  # 100 - candidate
    max_drop: float
    relative_error: float
    samples: int
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"accuracy gate {verdict}: {self.metric} {self.candidate:.2f} vs FP32 100.00 "
                f"(drop {self.drop:.2f} points, allowed {self.max_drop:.2f}); relative output error "
                f"{self.relative_error:.3g} on {self.samples} held-out frames")


def run_gate(
    *, task: str, decoder: DecoderSpec, labels: Sequence[str], input_name: str, holdout: Sequence[np.ndarray],
    reference: InferFn, candidate: InferFn, max_drop: float,
) -> GateReport:
    """Run both engines on every held-out tensor and compare."""
    ref_out = [reference({input_name: t}) for t in holdout]
    cand_out = [candidate({input_name: t}) for t in holdout]
    rel = relative_error(ref_out, cand_out)
    name = decoder.output or next(iter(ref_out[0]))
    if task == "detection":
        metric, score = "map50", 100.0 * detection_agreement(decoder, labels, holdout, name, ref_out, cand_out)
    elif task == "classification":
        metric, score = "top1_agreement", 100.0 * top1_agreement([r[name] for r in ref_out], [c[name] for c in cand_out])
    else:
        metric, score = "relative_error_only", 100.0
    drop = 100.0 - score
    return GateReport(metric=metric, candidate=score, drop=drop, max_drop=max_drop, relative_error=rel,
                      samples=len(holdout), passed=drop <= max_drop + 1e-9 and math.isfinite(rel))


def relative_error(reference: Sequence[dict[str, np.ndarray]], candidate: Sequence[dict[str, np.ndarray]]) -> float:
    """||candidate - reference|| / ||reference|| over every output of every frame."""
    num = den = 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        for key, value in ref.items():
            if value.dtype.kind != "f" or cand[key].shape != value.shape:
                continue  # indices and counts (in-graph NMS) are compared through the decoded boxes
            diff = cand[key].astype(np.float64) - value.astype(np.float64)
            num += float(np.sum(diff * diff))
            den += float(np.sum(value.astype(np.float64) ** 2))
    return math.sqrt(num / den) if den > 0 else math.sqrt(num)


def top1_agreement(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float:
    ref = np.concatenate([r.reshape(r.shape[0], -1).argmax(axis=1) for r in reference])
    cand = np.concatenate([c.reshape(c.shape[0], -1).argmax(axis=1) for c in candidate])
    return float(np.mean(ref == cand))


CANDIDATE_SCORE_THRESHOLD = 0.01


def detection_agreement(
    decoder: DecoderSpec, labels: Sequence[str], holdout: Sequence[np.ndarray], name: str,
    reference: Sequence[dict[str, np.ndarray]], candidate: Sequence[dict[str, np.ndarray]],
) -> float:
    """mAP@0.5 of candidate detections with FP32 detections as ground truth (input pixels).

    Ground truth is what FP32 reports at the operating threshold; the candidate is decoded at
    a near-zero threshold and ranked by score, as any mAP evaluation does. Otherwise a box
    FP32 scores 0.26 and INT8 scores 0.24 would count as a miss, when the ranking (what mAP
    measures) is unchanged.
    """
    from edge_ai_ros.metrics.map import mean_average_precision

    specs = tuple(TensorSpec(name=k, shape=tuple(v.shape), dtype=v.dtype.name) for k, v in reference[0].items())
    primary = next(s for s in specs if s.name == name)
    dec = bind_outputs(make_decoder(decoder, tuple(labels)), specs, primary)
    ranked_spec = replace(decoder, score_threshold=CANDIDATE_SCORE_THRESHOLD)
    ranked = bind_outputs(make_decoder(ranked_spec, tuple(labels)), specs, primary)
    truth, preds = [], []
    for tensor, ref, cand in zip(holdout, reference, candidate, strict=True):
        transform = _identity_transform(tensor)
        ref_boxes, _, ref_cls = _arrays(dec(ref, transform).detections)
        truth.append((ref_boxes, ref_cls))
        preds.append(_arrays(ranked(cand, transform).detections))
    if not any(len(t[1]) for t in truth):
        return 0.0 if any(len(p[2]) for p in preds) else 1.0
    classes = 1 + max(int(c.max()) for _, _, c in (*preds, *[(b, b, c) for b, c in truth]) if len(c))
    return float(mean_average_precision(preds, truth, num_classes=classes, iou_threshold=0.5).map)


def _arrays(detections: Sequence[Detection]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.asarray([d.box for d in detections], dtype=np.float32).reshape(-1, 4)
    scores = np.asarray([d.score for d in detections], dtype=np.float32)
    return boxes, scores, np.asarray([d.class_id for d in detections], dtype=np.int64)


def _identity_transform(tensor: np.ndarray) -> LetterboxTransform:
    height, width = int(tensor.shape[-2]), int(tensor.shape[-1])
    return LetterboxTransform(scale_x=1.0, scale_y=1.0, pad_x=0.0, pad_y=0.0, orig_width=width, orig_height=height)
