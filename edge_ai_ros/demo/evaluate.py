"""mAP@0.5 of a detector on held-out generated scenes.

The held-out set is split "eval" of the scene generator, a stream disjoint from the
training split by construction. Predictions are decoded by the serving decoder
(``edge_ai_ros.decoders.yolo``) with a 0.001 score threshold, as mAP needs the full ranking.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_ai_ros.decoders.yolo import YoloDecoder
from edge_ai_ros.demo.dataset import DEMO_PREPROCESS
from edge_ai_ros.demo.scene import CLASSES, scene_at
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.metrics.map import GroundTruth, MapResult, Prediction, mean_average_precision
from edge_ai_ros.preprocess import preprocess

PredictFn = Callable[[np.ndarray], Prediction]  # RGB uint8 image -> boxes, scores, class ids (original px)
RawFn = Callable[[np.ndarray], np.ndarray]  # input tensor [1, 3, H, W] -> predictions [1, A, 5 + C]
MAP_DECODER = DecoderSpec(kind="yolo", score_threshold=0.001, iou_threshold=0.45, max_detections=100)


def predict_fn_from_raw(raw_fn: RawFn) -> PredictFn:
    """Wrap a tensor-in, predictions-out function with preprocessing and the YOLO decoder."""
    decoder = YoloDecoder(MAP_DECODER, CLASSES)

    def predict(image: np.ndarray) -> Prediction:
        tensor, transform = preprocess(image, DEMO_PREPROCESS)
        frame = decoder.decode(raw_fn(tensor), transform)
        dets = frame.detections
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        return boxes, np.array([d.score for d in dets], np.float32), np.array([d.class_id for d in dets], np.int64)

    return predict


def torch_predict_fn(model: object) -> PredictFn:
    """Predictions of a torch ``Detector`` (imports torch, so not for the serving path)."""
    import torch

    assert isinstance(model, torch.nn.Module)
    model.eval()

    def raw(tensor: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(tensor)).numpy()  # type: ignore[no-any-return]

    return predict_fn_from_raw(raw)


def onnx_predict_fn(path: str | Path) -> PredictFn:
    """Predictions of an exported ONNX detector through ONNX Runtime on CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return predict_fn_from_raw(lambda tensor: np.asarray(session.run(None, {name: tensor})[0]))


def evaluate_map(predict_fn: PredictFn, *, num_images: int, seed: int = 0, iou_threshold: float = 0.5) -> MapResult:
    """mAP of ``predict_fn`` over ``num_images`` held-out scenes (split "eval", ``seed``)."""
    predictions: list[Prediction] = []
    truths: list[GroundTruth] = []
    for index in range(num_images):
        scene = scene_at("eval", seed, index)
        predictions.append(predict_fn(scene.image))
        truths.append((scene.boxes, scene.class_ids))
    return mean_average_precision(predictions, truths, num_classes=len(CLASSES), iou_threshold=iou_threshold)
