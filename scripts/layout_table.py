"""Measure every detection layout on every installed CPU backend, FP32 and INT8.

    .venv/bin/python scripts/layout_table.py --out docs/detectors_table.json

For each layout model of test/decoders/layout_models.py (the models the tests prove the
decoders on): does it compile, the INT8 agreement with FP32 (mAP@0.5 with the FP32
detections as ground truth, on the same frames), and batch-1 latency of the whole pipeline
(preprocess + inference + decode, median of interleaved runs). Host facts and the load
average before and after go into the JSON; latencies on a shared CPU are indicative only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test" / "decoders"))

from layout_models import CLASSES, build  # noqa: E402
from PIL import Image  # noqa: E402

from edge_ai_ros.compiler.build import BuildOptions, build_engine  # noqa: E402
from edge_ai_ros.compiler.calibration_data import CalibrationConfig  # noqa: E402
from edge_ai_ros.errors import EdgeAiError  # noqa: E402
from edge_ai_ros.inspection.model import inspect_onnx, write_manifest  # noqa: E402
from edge_ai_ros.manifest import load_manifest, save_manifest  # noqa: E402
from edge_ai_ros.metrics.map import mean_average_precision  # noqa: E402
from edge_ai_ros.pipeline import Perception  # noqa: E402

CASES = {"yolov8": "yolov8", "yolov5": "yolov5", "yolox": "yolox", "yolox_raw": "yolox_raw", "yolov10": "yolov10",
         "rtdetr": "rtdetr", "ssd": "ssd", "ssd_background": "ssd", "onnx_nms": "onnx_nms",
         "efficient_nms": "efficient_nms", "yolov8_seg": "yolov8_seg"}
BACKENDS = [b for b in ("onnxruntime", "openvino") if importlib.util.find_spec(b)]


def frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    sizes = [(96, 60), (64, 64), (640, 480), (120, 80)]
    return [rng.integers(0, 256, (sizes[i % 4][1], sizes[i % 4][0], 3), dtype=np.uint8) for i in range(count)]


def source_manifest(name: str, work: Path) -> Path:
    model = build(name, work / f"{name}.onnx")
    (work / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    path = write_manifest(inspect_onnx(model, labels_file=str(work / "labels.txt"), layout=CASES[name]))
    if name == "ssd_background":
        m = load_manifest(path)
        save_manifest(m.with_updates(decoder=m.decoder.__class__(**{**m.decoder.__dict__,
                                                                    "background_class": True})), path)
    return model


def photos(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    for i, image in enumerate(frames(12)):
        Image.fromarray(image).save(folder / f"p{i}.jpg")
    return folder


def as_arrays(dets: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Boxes, scores, classes; a box of zero area (the toy scene put it in the letterbox padding,
    clipped to the image edge) is left out: mAP cannot match it even against itself."""
    dets = tuple(d for d in dets if d.box[2] > d.box[0] and d.box[3] > d.box[1])
    return (np.asarray([d.box for d in dets], np.float32).reshape(-1, 4),
            np.asarray([d.score for d in dets], np.float32), np.asarray([d.class_id for d in dets], np.int64))


def median_ms(perception: Perception, images: list[np.ndarray], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        for image in images:
            start = time.perf_counter()
            perception.run(image)
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def measure(name: str, backend: str, work: Path, images: list[np.ndarray]) -> list[dict[str, object]]:
    model = source_manifest(name, work)
    rows: list[dict[str, object]] = []
    results = {}
    for precision in ("fp32", "int8"):
        calib = CalibrationConfig(source=str(photos(work / "photos")), max_samples=12) if precision == "int8" else None
        try:
            built = build_engine(BuildOptions(onnx_path=str(model), precision=precision, backend=backend,
                                              calibration=calib, cache_dir=str(work / "cache")))
        except EdgeAiError as err:
            rows.append({"layout": name, "backend": backend, "precision": precision, "compiles": False,
                         "error": str(err)[:200]})
            continue
        with Perception(built.manifest_path, backend=backend) as perception:
            results[precision] = [as_arrays(perception.run(image).detections) for image in images]
            ms = median_ms(perception, images[:4], rounds=10)
        rows.append({"layout": name, "backend": backend, "precision": precision, "compiles": True,
                     "latency_ms_p50": round(ms, 3)})
    if "int8" in results and "fp32" in results:
        truth = [(b, c) for b, _, c in results["fp32"]]
        agreement = mean_average_precision(results["int8"], truth, num_classes=len(CLASSES)).map
        rows[-1]["int8_map50_vs_fp32"] = round(float(agreement), 4)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", default="docs/detectors_table.json")
    args = parser.parse_args()
    images = frames(16)
    load_before = os.getloadavg()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            for backend in BACKENDS:
                work = Path(tmp) / f"{name}-{backend}"
                work.mkdir()
                rows += measure(name, backend, work, images)
                print(json.dumps(rows[-1]), flush=True)
    host = {"machine": platform.machine(), "processor": _cpu_model(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "load_before": load_before, "load_after": os.getloadavg()}
    Path(args.out).write_text(json.dumps({"host": host, "frames": len(images), "rows": rows}, indent=2) + "\n")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
