"""Which output layout an ONNX model has, from its output shapes and the exporter's metadata.

Rules, in order (docs/detectors.md): output names and in-graph NMS first, then the number and
rank of outputs, then the class count from metadata or labels against the row width, then the
anchor count against the YOLOX/YOLOv5 grids. More than one candidate left is an error listing
them with the ``--layout`` flag; nothing is guessed silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError

STRIDES = (8, 16, 32)


def grid_cells(width: int, height: int) -> int:
    """Anchor points of an anchor-free head over strides 8/16/32 (YOLOX, YOLOv8)."""
    return sum((width // s) * (height // s) for s in STRIDES)


def guess_layout(outputs: Sequence[TensorSpec], *, op_types: set[str], num_classes: int,
                 input_size: tuple[int, int], exporter: str) -> tuple[str, str]:
    """(task, layout) of the model; ManifestError listing candidates when more than one fits."""
    candidates = _candidates(outputs, op_types, num_classes, input_size, exporter)
    if not candidates:
        shapes = [(o.name, list(o.shape)) for o in outputs]
        raise ManifestError(f"no supported layout has outputs {shapes}",
                            fix="see docs/detectors.md for the layouts read; re-export with one of them")
    if len(candidates) > 1:
        names = ", ".join(layout for _, layout in candidates)
        raise ManifestError(f"the output layout is ambiguous: it could be {names}",
                            fix=f"pass --layout with one of: {names}")
    return candidates[0]


def _candidates(outputs: Sequence[TensorSpec], op_types: set[str], num_classes: int,
                input_size: tuple[int, int], exporter: str) -> list[tuple[str, str]]:
    names = {o.name.lower() for o in outputs}
    ranks = sorted(len(o.shape) for o in outputs)
    if any(n.startswith("num_det") for n in names) or "EfficientNMS_TRT" in op_types:
        return [("detection", "efficient_nms")]
    if "NonMaxSuppression" in op_types:
        return [("detection", "onnx_nms")]
    if ranks == [3, 4]:
        return [("detection", "yolov8_seg")]
    if ranks == [3, 3] and any(o.shape[-1] == 4 for o in outputs):
        return [("detection", "ssd")]
    if len(outputs) != 1:
        return []
    shape = outputs[0].shape
    if len(shape) == 2:
        return [("classification", "")]
    if len(shape) == 4:
        return [("segmentation", "")]
    if len(shape) != 3:
        return []
    return [("detection", layout) for layout in _single_rank3(shape[1], shape[2], num_classes, input_size,
                                                                exporter)]


def _single_rank3(rows: int | str, width: int | str, num_classes: int, input_size: tuple[int, int],
                  exporter: str) -> list[str]:
    """Candidate layouts of one [B, rows, width] output."""
    if not isinstance(rows, int) or not isinstance(width, int):
        return ["yolov8", "yolov5", "yolox", "yolox_raw", "yolov10", "rtdetr"]
    found: list[str] = []
    known = num_classes > 0
    if rows < width and (not known or rows == 4 + num_classes):
        found.append("yolov8")
    if rows > width:
        found += _rows_last(rows, width, num_classes, input_size, exporter)
    return found


def _rows_last(rows: int, width: int, num_classes: int, input_size: tuple[int, int], exporter: str) -> list[str]:
    """[B, N, width] layouts: end-to-end heads, objectness rows, or DETR queries."""
    known = num_classes > 0
    found: list[str] = []
    if width == 6 and (exporter == "ultralytics" or not known or num_classes != 1):
        found.append("yolov10")
    if exporter == "ultralytics":
        return found or (["rtdetr"] if not known or width == 4 + num_classes else [])
    if not known or width == 5 + num_classes:
        cells = grid_cells(*input_size)
        if rows == cells:
            found += ["yolox", "yolox_raw"]
        elif rows == 3 * cells or not known:
            found.append("yolov5")
    if (not known or width == 4 + num_classes) and rows not in (grid_cells(*input_size), 3 * grid_cells(*input_size)):
        found.append("rtdetr")
    return found
