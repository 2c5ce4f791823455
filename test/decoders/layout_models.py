"""Tiny ONNX models that emit exactly one exporter's output layout with known boxes (onnx.helper).

Each output is a concatenation of segments; a segment is ``bias + MatMul(features, W)`` with the
known pre-activation values as bias and a small image-dependent term (so the graph has real
compute for INT8 to quantize), optionally through Sigmoid or Softmax as the exporter does.
The scene (``SCENE``) is four objects in model-input pixels, lower-scored near-duplicates that
NMS must remove, and weak background candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 64  # model input is SIZE x SIZE
CLASSES = ("car", "person", "sign")
GRID = sum((SIZE // s) ** 2 for s in (8, 16, 32))  # 84 anchor points
MASKS = 4  # yolov8_seg prototypes
PROTO = 16  # prototype resolution


@dataclass(frozen=True)
class Obj:
    box: tuple[float, float, float, float]  # x1 y1 x2 y2 in input pixels
    cls: int
    score: float


SCENE = (Obj((4, 6, 24, 30), 0, 0.92), Obj((30, 8, 44, 40), 1, 0.81), Obj((40, 44, 60, 60), 2, 0.66),
         Obj((8, 36, 28, 56), 0, 0.55))


def candidates(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes xyxy [count, 4], class probabilities [count, C], objectness [count]) of the scene.

    Rows 0-3 are the objects, rows 4-7 shifted duplicates (IoU > 0.6, lower score), the rest weak.
    """
    rng = np.random.default_rng(seed)
    boxes = np.zeros((count, 4), np.float32)
    probs = np.full((count, len(CLASSES)), 0.02, np.float32)
    obj = np.full(count, 0.9, np.float32)
    for i, o in enumerate(SCENE):
        boxes[i] = o.box
        probs[i, o.cls] = o.score
        boxes[i + 4] = np.asarray(o.box) + (1.5, 1.0, 1.5, 1.0)
        probs[i + 4, o.cls] = o.score - 0.1
    for i in range(8, count):
        x, y = rng.uniform(0, SIZE - 12, 2)
        boxes[i] = (x, y, x + rng.uniform(4, 12), y + rng.uniform(4, 12))
        probs[i, rng.integers(len(CLASSES))] = rng.uniform(0.03, 0.15)
        obj[i] = rng.uniform(0.1, 0.5)
    order = rng.permutation(count)  # the objects are not first in the tensor
    return boxes[order], probs[order], obj[order]


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], axis=1)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).astype(np.float32)


@dataclass(frozen=True)
class Seg:
    values: np.ndarray  # pre-activation values, with the batch axis
    act: str = ""  # "", "sigmoid" or "softmax" (last axis)
    amplitude: float = 1e-3  # size of the image-dependent term; 0 for class ids


class GraphBuilder:
    """Collects nodes: image -> 1x1 conv -> global pool -> features [1, 3]; outputs from segments."""

    def __init__(self, seed: int = 0, input_dtype: int = TensorProto.FLOAT, dynamic: bool = False) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.input_dtype, self.dynamic = input_dtype, dynamic
        image = "images"
        if input_dtype == TensorProto.FLOAT16:
            self.nodes.append(helper.make_node("Cast", ["images"], ["images32"], to=TensorProto.FLOAT, name="cast"))
            image = "images32"
        self._init("conv_w", self.rng.normal(0, 0.5, (3, 3, 1, 1)))
        self._init("conv_b", np.zeros(3))
        self.nodes += [helper.make_node("Conv", [image, "conv_w", "conv_b"], ["c"], name="conv"),
                       helper.make_node("GlobalAveragePool", ["c"], ["pooled"], name="pool"),
                       helper.make_node("Flatten", ["pooled"], ["features"], name="flatten")]
        self._count = 0

    def _init(self, name: str, array: np.ndarray, dtype: type = np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def segment(self, seg: Seg) -> str:
        k = self._count = self._count + 1
        flat = seg.values.reshape(-1)
        w = self._init(f"w{k}", self.rng.normal(0, 1.0, (3, flat.size)) * seg.amplitude)
        b = self._init(f"b{k}", flat)
        shape = self._init(f"shape{k}", np.asarray(seg.values.shape), np.int64)
        self.nodes += [helper.make_node("MatMul", ["features", w], [f"m{k}"], name=f"matmul{k}"),
                       helper.make_node("Add", [f"m{k}", b], [f"a{k}"], name=f"add{k}"),
                       helper.make_node("Reshape", [f"a{k}", shape], [f"r{k}"], name=f"reshape{k}")]
        out = f"r{k}"
        if seg.act:
            op = {"sigmoid": "Sigmoid", "softmax": "Softmax"}[seg.act]
            self.nodes.append(helper.make_node(op, [out], [f"s{k}"], name=f"act{k}", **(
                {"axis": -1} if op == "Softmax" else {})))
            out = f"s{k}"
        return out

    def output(self, name: str, segs: list[Seg], axis: int) -> str:
        parts = [self.segment(s) for s in segs]
        self.nodes.append(helper.make_node("Concat", parts, [name], name=f"out_{name}", axis=axis))
        shape = list(segs[0].values.shape)
        shape[axis] = sum(s.values.shape[axis] for s in segs)
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def constant(self, name: str, array: np.ndarray, elem: int) -> None:
        self.nodes.append(helper.make_node("Constant", [], [name], name=f"const_{name}",
                                           value=numpy_helper.from_array(array, name + "_value")))
        self.outputs.append(helper.make_tensor_value_info(name, elem, list(array.shape)))

    def save(self, path: Path, metadata: dict[str, str] | None = None) -> Path:
        dims: list[int | str] = [1, 3, "height", "width"] if self.dynamic else [1, 3, SIZE, SIZE]
        graph = helper.make_graph(self.nodes, "layout_model",
                                  [helper.make_tensor_value_info("images", self.input_dtype, dims)],
                                  self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path


def _b(a: np.ndarray) -> np.ndarray:
    return a[None].astype(np.float32)


def build(layout: str, path: Path, **kw: object) -> Path:
    """Write the model of ``layout`` (a name of LAYOUT_BUILDERS) to ``path``."""
    g = GraphBuilder(**kw)  # type: ignore[arg-type]
    LAYOUT_BUILDERS[layout](g)
    return g.save(path)


def yolov8(g: GraphBuilder) -> None:
    boxes, probs, _ = candidates(GRID)
    g.output("output0", [Seg(_b(xyxy_to_cxcywh(boxes).T)), Seg(_b(logit(probs).T), "sigmoid")], axis=1)


def yolov5(g: GraphBuilder, count: int = 3 * GRID, amplitude: float = 1e-3) -> None:
    boxes, probs, obj = candidates(count)
    g.output("output0", [Seg(_b(xyxy_to_cxcywh(boxes)), amplitude=amplitude),
                         Seg(_b(logit(obj)[:, None]), "sigmoid", amplitude),
                         Seg(_b(logit(probs)), "sigmoid", amplitude)], axis=2)


RAW_INPUT_AMPLITUDE = 1e-3 / 255  # YOLOX reads 0-255 pixels: the same image-dependent term as the others


def yolox(g: GraphBuilder) -> None:
    yolov5(g, GRID, RAW_INPUT_AMPLITUDE)


def yolox_raw(g: GraphBuilder) -> None:
    boxes, probs, obj = candidates(GRID)
    cells, strides = [], []
    for s in (8, 16, 32):
        ys, xs = np.meshgrid(np.arange(SIZE // s), np.arange(SIZE // s), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], 1))
        strides.append(np.full((xs.size, 1), s))
    grid, stride = np.concatenate(cells), np.concatenate(strides)
    cxcywh = xyxy_to_cxcywh(boxes)
    raw = np.concatenate([cxcywh[:, :2] / stride - grid, np.log(cxcywh[:, 2:] / stride)], axis=1)
    a = RAW_INPUT_AMPLITUDE
    g.output("output", [Seg(_b(raw), amplitude=a), Seg(_b(logit(obj)[:, None]), "sigmoid", a),
                        Seg(_b(logit(probs)), "sigmoid", a)], axis=2)


def yolov10(g: GraphBuilder) -> None:
    boxes, probs, _ = candidates(20)
    ids = probs.argmax(1).astype(np.float32)
    g.output("output0", [Seg(_b(boxes)), Seg(_b(logit(probs.max(1))[:, None]), "sigmoid"),
                         Seg(_b(ids[:, None]), amplitude=0.0)], axis=2)


def rtdetr(g: GraphBuilder, act: str = "sigmoid") -> None:
    boxes, probs, _ = candidates(20)
    norm = xyxy_to_cxcywh(boxes) / SIZE
    g.output("output0", [Seg(_b(logit(norm)), "sigmoid"), Seg(_b(logit(probs)), act)], axis=2)


def rtdetr_logits(g: GraphBuilder) -> None:
    rtdetr(g, "")


def ssd(g: GraphBuilder, background: bool = False) -> None:
    boxes, probs, _ = candidates(GRID)
    scores = np.log(probs)  # softmax(log p) = p / sum(p): the scene's ranking survives
    if background:
        scores = np.concatenate([np.log(np.full((GRID, 1), 0.3, np.float32)), scores], axis=1)
    g.output("boxes", [Seg(_b(boxes))], axis=2)
    g.output("scores", [Seg(_b(scores), "softmax")], axis=2)


def ssd_background(g: GraphBuilder) -> None:
    ssd(g, background=True)


def onnx_nms(g: GraphBuilder) -> None:
    boxes, probs, _ = candidates(GRID)
    g.output("boxes", [Seg(_b(boxes))], axis=2)
    g.output("scores", [Seg(_b(logit(probs).T), "sigmoid")], axis=1)
    g._init("max_out", np.asarray([10]), np.int64)
    g._init("iou", np.asarray([0.45]))
    g._init("score_thr", np.asarray([0.2]))
    g.nodes.append(helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score_thr"],
                                    ["selected"], name="nms"))
    g.outputs.append(helper.make_tensor_value_info("selected", TensorProto.INT64, ["detections", 3]))


def efficient_nms(g: GraphBuilder) -> None:
    k = 10
    boxes = np.zeros((k, 4), np.float32)
    scores = np.full(k, 1e-3, np.float32)
    classes = np.zeros((1, k), np.int32)
    for i, o in enumerate(SCENE):
        boxes[i], scores[i], classes[0, i] = o.box, o.score, o.cls
    g.constant("num_dets", np.asarray([[len(SCENE)]], np.int32), TensorProto.INT32)
    g.output("det_boxes", [Seg(_b(boxes))], axis=2)
    g.output("det_scores_3d", [Seg(_b(logit(scores)[:, None]), "sigmoid")], axis=2)
    g.nodes.append(helper.make_node("Squeeze", ["det_scores_3d", "axis2"], ["det_scores"], name="squeeze"))
    g._init("axis2", np.asarray([2]), np.int64)
    g.outputs[-1] = helper.make_tensor_value_info("det_scores", TensorProto.FLOAT, [1, k])
    g.constant("det_classes", classes, TensorProto.INT32)


def prototypes(rng: np.random.Generator) -> np.ndarray:
    """[M, PROTO, PROTO] smooth blobs: each object's mask is one prototype, positive over its box."""
    protos = np.full((MASKS, PROTO, PROTO), -4.0, np.float32)
    scale = PROTO / SIZE
    for i, o in enumerate(SCENE):
        x1, y1, x2, y2 = (int(v * scale) for v in o.box)
        protos[i, y1 + 1 : y2, x1 + 1 : x2] = 4.0
    return protos + rng.normal(0, 0.1, protos.shape).astype(np.float32)


def yolov8_seg(g: GraphBuilder) -> None:
    boxes, probs, _ = candidates(GRID)
    coeffs = np.zeros((GRID, MASKS), np.float32)
    for i, o in enumerate(SCENE):  # each object's rows (and its duplicate's) select its prototype
        rows = np.where((np.abs(boxes[:, :2] - np.asarray(o.box[:2])) < 2).all(1))[0]
        coeffs[rows, i] = 1.0
    g.output("output0", [Seg(_b(xyxy_to_cxcywh(boxes).T)), Seg(_b(logit(probs).T), "sigmoid"),
                         Seg(_b(coeffs.T))], axis=1)
    g.output("output1", [Seg(_b(prototypes(g.rng)))], axis=1)


LAYOUT_BUILDERS = {
    "yolov8": yolov8, "yolov5": yolov5, "yolox": yolox, "yolox_raw": yolox_raw, "yolov10": yolov10,
    "rtdetr": rtdetr, "rtdetr_logits": rtdetr_logits, "ssd": ssd, "ssd_background": ssd_background,
    "onnx_nms": onnx_nms, "efficient_nms": efficient_nms, "yolov8_seg": yolov8_seg,
}
