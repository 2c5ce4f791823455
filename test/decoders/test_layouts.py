"""Every detection layout, end to end: a model emitting exactly that layout, inspected, served
(FP32) or compiled (INT8) on every installed CPU backend, against a reference decoder written
here from the exporter's documented formula (docs/detectors.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from layout_models import CLASSES, GRID, PROTO, SIZE, build
from PIL import Image

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.decoders.layouts import LAYOUTS
from edge_ai_ros.inspection.model import inspect_onnx, write_manifest
from edge_ai_ros.manifest import DETECTION_LAYOUTS, load_manifest, save_manifest
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.results import Detection

BACKENDS = [b for b, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino"))
            if importlib.util.find_spec(module)]
# model name -> (decoder.layout, extra decoder fields)
CASES = {
    "yolov8": ("yolov8", {}), "yolov5": ("yolov5", {}), "yolox": ("yolox", {}), "yolox_raw": ("yolox_raw", {}),
    "yolov10": ("yolov10", {}), "rtdetr": ("rtdetr", {}), "rtdetr_logits": ("rtdetr", {}), "ssd": ("ssd", {}),
    "ssd_background": ("ssd", {"background_class": True}), "onnx_nms": ("onnx_nms", {}),
    "efficient_nms": ("efficient_nms", {}), "yolov8_seg": ("yolov8_seg", {}),
}
THRESHOLD, IOU = 0.25, 0.45
IMAGE_SIZE = (96, 60)  # width, height: letterboxed into SIZE x SIZE with padding


def test_every_declared_layout_has_a_decoder_and_a_case() -> None:
    assert set(LAYOUTS) == set(DETECTION_LAYOUTS)
    assert {layout for layout, _ in CASES.values()} == set(DETECTION_LAYOUTS)


# ---- the reference: written from each exporter's formula, sharing no code with the package ----

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _corners(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _yolox_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, strides = [], [], []
    for stride in (8, 16, 32):
        for y in range(SIZE // stride):
            for x in range(SIZE // stride):
                xs.append(x), ys.append(y), strides.append(stride)
    return np.asarray(xs, float), np.asarray(ys, float), np.asarray(strides, float)


def reference_candidates(name: str, raw: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(boxes xyxy input px, scores, classes, nms still to do) by the exporter's formula."""
    if name in ("yolov8", "yolov8_seg"):
        p = raw[0][0]
        cls = p[4 : 4 + len(CLASSES)]
        return _corners(p[0], p[1], p[2], p[3]), cls.max(0), cls.argmax(0), True
    if name in ("yolov5", "yolox", "yolox_raw"):
        r = raw[0][0].astype(np.float64)
        if name == "yolox_raw":
            gx, gy, s = _yolox_grid()
            r[:, 0], r[:, 1] = (r[:, 0] + gx) * s, (r[:, 1] + gy) * s
            r[:, 2], r[:, 3] = np.exp(r[:, 2]) * s, np.exp(r[:, 3]) * s
        conf = r[:, 5:] * r[:, 4:5]
        return _corners(r[:, 0], r[:, 1], r[:, 2], r[:, 3]), conf.max(1), conf.argmax(1), True
    if name == "yolov10":
        r = raw[0][0]
        return r[:, :4], r[:, 4], np.rint(r[:, 5]).astype(int), False
    if name.startswith("rtdetr"):
        r = raw[0][0]
        cls = _sigmoid(r[:, 4:]) if name == "rtdetr_logits" else r[:, 4:]
        return _corners(*(r[:, k] * SIZE for k in range(4))), cls.max(1), cls.argmax(1), False
    if name.startswith("ssd"):
        scores = raw[1][0][:, 1:] if name == "ssd_background" else raw[1][0]
        return raw[0][0], scores.max(1), scores.argmax(1), True
    if name == "onnx_nms":
        boxes, scores, sel = raw[0][0], raw[1][0], raw[2]
        return boxes[sel[:, 2]], scores[sel[:, 1], sel[:, 2]], sel[:, 1], False
    count = int(raw[0][0, 0])  # efficient_nms
    return raw[1][0][:count], raw[2][0][:count], raw[3][0][:count], False


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def reference_detections(name: str, raw: list[np.ndarray], placement: tuple[float, ...]) -> list[tuple]:
    """[(class, score, box in original pixels)], best first: threshold, per-class greedy NMS, letterbox undone."""
    boxes, scores, classes, nms = reference_candidates(name, raw)
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > THRESHOLD]
    kept: list[int] = []
    for i in order:
        if not nms or all(classes[j] != classes[i] or _iou(boxes[i], boxes[j]) <= IOU for j in kept):
            kept.append(i)
    sx, sy, pad_x, pad_y = placement
    width, height = IMAGE_SIZE
    out = []
    for i in kept:
        b = boxes[i]
        box = (np.clip((b[0] - pad_x) / sx, 0, width), np.clip((b[1] - pad_y) / sy, 0, height),
               np.clip((b[2] - pad_x) / sx, 0, width), np.clip((b[3] - pad_y) / sy, 0, height))
        out.append((int(classes[i]), float(scores[i]), box))
    return out


def reference_input(image: np.ndarray, style: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The exporters' input: letterboxed centred RGB / 255 (Ultralytics), top-left BGR 0-255 (YOLOX),
    or stretched RGB / 255 (Ultralytics RT-DETR); pad 114. Returns (tensor, (sx, sy, pad_x, pad_y))."""
    h, w = image.shape[:2]
    yolox_style = style == "yolox"
    if style == "stretch":
        resized = np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.Resampling.BILINEAR))
        return resized.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255), (SIZE / w, SIZE / h, 0, 0)
    r = min(SIZE / w, SIZE / h)
    new_w, new_h = round(w * r), round(h * r)
    pad_x, pad_y = (0, 0) if yolox_style else ((SIZE - new_w) // 2, (SIZE - new_h) // 2)
    canvas = np.full((SIZE, SIZE, 3), 114, np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = np.asarray(
        Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    tensor = canvas[..., ::-1] if yolox_style else canvas
    tensor = tensor.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1.0 if yolox_style else 1 / 255)
    return tensor, (new_w / w, new_h / h, float(pad_x), float(pad_y))


def reference_mask(raw: list[np.ndarray], dets: list[tuple], placement: tuple[float, ...]) -> np.ndarray:
    """Instance k+1 where sigmoid(coeffs . protos) > 0.5 inside its box, at each original pixel centre."""
    preds, protos = raw[0][0], raw[1][0]
    boxes, scores, _, _ = reference_candidates("yolov8_seg", raw)
    sx, sy, pad_x, pad_y = placement
    width, height = IMAGE_SIZE
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    cell = SIZE / PROTO
    row = np.clip(((ys * sy + pad_y) // cell).astype(int), 0, PROTO - 1)
    col = np.clip(((xs * sx + pad_x) // cell).astype(int), 0, PROTO - 1)
    mask = np.zeros((height, width), np.uint8)
    for k, (_, score, box) in enumerate(dets):
        i = int(np.argmin(np.abs(scores - score) + (scores <= THRESHOLD)))
        coeffs = preds[4 + len(CLASSES) :, i]
        inside = (xs >= np.floor(box[0])) & (xs < np.ceil(box[2])) & (ys >= np.floor(box[1])) & (ys < np.ceil(box[3]))
        hit = (_sigmoid(np.tensordot(coeffs, protos, axes=1))[row, col] > 0.5) & inside & (mask == 0)
        mask[hit] = k + 1
    return mask


# ---- the package, end to end ----

def _image() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)


def _source_manifest(name: str, tmp_path: Path) -> Path:
    layout, extra = CASES[name]
    model = build(name, tmp_path / f"{name}.onnx")
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    manifest_path = write_manifest(inspect_onnx(model, labels_file=str(tmp_path / "labels.txt"), layout=layout))
    if extra:
        manifest = load_manifest(manifest_path)
        save_manifest(manifest.with_updates(decoder=manifest.decoder.__class__(
            **{**manifest.decoder.__dict__, **extra})), manifest_path)
    return manifest_path


def _as_tuples(dets: tuple[Detection, ...]) -> list[tuple]:
    return [(d.class_id, d.score, d.box) for d in dets]


def assert_same(got: list[tuple], want: list[tuple], box_tol: float, score_tol: float) -> None:
    assert len(got) == len(want), (got, want)
    assert len(want) >= 3  # the scene's objects are found, so the comparison means something
    for (gc, gs, gb), (wc, ws, wb) in zip(sorted(got), sorted(want), strict=True):
        assert gc == wc and abs(gs - ws) <= score_tol
        np.testing.assert_allclose(gb, wb, atol=box_tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CASES))
def test_fp32_matches_the_reference_decoder(name: str, backend: str, tmp_path: Path) -> None:
    manifest_path = _source_manifest(name, tmp_path)
    image = _image()
    style = "yolox" if name.startswith("yolox") else "stretch" if name.startswith("rtdetr") else "ultralytics"
    tensor, placement = reference_input(image, style)
    raw = ort.InferenceSession(str(tmp_path / f"{name}.onnx")).run(None, {"images": tensor})
    want = reference_detections(name, raw, placement)
    with Perception(manifest_path, backend=backend) as perception:
        result = perception.run(image)
    assert_same(_as_tuples(result.detections), want, box_tol=1e-2, score_tol=1e-4)
    if name == "yolov8_seg":
        assert result.mask is not None and result.mask.shape == image.shape[:2]
        expected = reference_mask(raw, want, placement)
        assert set(np.unique(expected)) == {0, 1, 2, 3, 4}
        assert np.mean(result.mask == expected) > 0.995


def _photos(folder: Path) -> Path:
    """Calibration photos of mixed sizes (as a COCO subset or several cameras give)."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    for i, (w, h) in enumerate([(96, 60), (64, 64), (40, 90), (120, 80), (70, 50), (96, 60), (33, 77), (80, 80)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    return folder


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CASES))
def test_int8_agrees_with_fp32(name: str, backend: str, tmp_path: Path) -> None:
    """INT8 (Conv/MatMul quantized, the decode tail FP32) finds the FP32 boxes: same class, corners within 1.5 px."""
    manifest_path = _source_manifest(name, tmp_path)
    calib = CalibrationConfig(source=str(_photos(tmp_path / "photos")), max_samples=8)
    result = build_engine(BuildOptions(onnx_path=str(tmp_path / f"{name}.onnx"), precision="int8", backend=backend,
                                       calibration=calib, cache_dir=str(tmp_path / "cache")))
    assert result.manifest.precision == "int8" and result.manifest.decoder == load_manifest(manifest_path).decoder
    image = _image()
    with Perception(manifest_path, backend=backend) as fp32, Perception(result.manifest_path, backend=backend) as q:
        want, got = _as_tuples(fp32.run(image).detections), _as_tuples(q.run(image).detections)
    assert len(got) == len(want) and len(want) >= 3
    for (gc, gs, gb), (wc, ws, wb) in zip(sorted(got), sorted(want), strict=True):
        assert gc == wc and abs(gs - ws) <= 0.05
        np.testing.assert_allclose(gb, wb, atol=1.5)  # original pixels; 1 input pixel is 1.5 here


def test_yolox_raw_checks_the_grid_against_the_input_size(tmp_path: Path) -> None:
    manifest_path = _source_manifest("yolox_raw", tmp_path)
    manifest = load_manifest(manifest_path)
    bigger = manifest.preprocess.__class__(**{**manifest.preprocess.__dict__, "width": 96})
    from edge_ai_ros.decoders import make_decoder
    from edge_ai_ros.errors import ManifestError
    from edge_ai_ros.preprocess import LetterboxTransform

    decoder = make_decoder(manifest.decoder, manifest.labels)
    transform = LetterboxTransform(scale_x=1, scale_y=1, pad_x=0, pad_y=0, orig_width=96, orig_height=64,
                                   input_width=bigger.width, input_height=bigger.height)
    with pytest.raises(ManifestError, match=f"{GRID} rows"):
        decoder.decode(np.zeros((1, GRID, 8), np.float32), transform)


def test_float16_input_model_is_calibrated_with_float16_tensors_and_agrees(tmp_path: Path) -> None:
    from onnx import TensorProto

    model = build("yolov8", tmp_path / "half.onnx", input_dtype=TensorProto.FLOAT16)
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    manifest_path = write_manifest(inspect_onnx(model, labels_file=str(tmp_path / "labels.txt")))
    calib = CalibrationConfig(source=str(_photos(tmp_path / "photos")), max_samples=8)
    backend = BACKENDS[0]
    result = build_engine(BuildOptions(onnx_path=str(model), precision="int8", backend=backend, calibration=calib,
                                       cache_dir=str(tmp_path / "cache")))
    assert result.manifest.inputs[0].dtype == "float16" and result.manifest.accuracy is not None
    image = _image()
    with Perception(manifest_path, backend=backend) as fp, Perception(result.manifest_path, backend=backend) as q:
        want, got = _as_tuples(fp.run(image).detections), _as_tuples(q.run(image).detections)
    assert len(got) == len(want) >= 3
    for (gc, _, gb), (wc, _, wb) in zip(sorted(got), sorted(want), strict=True):
        assert gc == wc
        np.testing.assert_allclose(gb, wb, atol=1.5)
