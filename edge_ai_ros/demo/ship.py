"""Ship one variant of a finished compression run as the demo's compressed detector.

``edge-ai-ros compress`` leaves ``<run>/<variant>/model.safetensors, model.onnx,
model.onnx.manifest.json`` and ``<run>/report.json``. This copies an INT8 (QAT) variant and
the FP32 variant it was quantized from (the accuracy gate's reference) into
``edge_ai_ros/assets/demo_detector_int8/``, and completes their manifests with what the
serving path needs without importing torch: the parameter count, the held-out mAP of the
run, and the recipe (file name and sha256). ``provenance.json`` beside them keeps the recipe
itself and the run's rows for every variant on the way. No torch here: files and JSON only.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from edge_ai_ros.artifact_files import describe_files
from edge_ai_ros.atomic_io import atomic_output_dir, atomic_output_path, atomic_write_text, file_sha256
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.manifest import ArtifactSpec, load_manifest, save_manifest, verify_artifact

ASSETS = Path(__file__).resolve().parents[1] / "assets"
INT8_DIR = ASSETS / "demo_detector_int8"
ONNX_NAME = "detector.onnx"
WEIGHTS_NAME = "detector.safetensors"
REFERENCE_FOLDER = "fp32_reference"
PROVENANCE_NAME = "provenance.json"


@dataclass(frozen=True, kw_only=True)
class RecipeFacts:
    name: str
    sha256: str
    content: dict[str, Any]  # parsed, with file paths reduced to their names
    baseline_weights: dict[str, Any]  # model.weights: name, sha256, same bytes as the shipped FP32 detector

    @classmethod
    def read(cls, path: Path) -> RecipeFacts:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError("recipe", f"cannot read {path}: {err}", fix="pass the recipe the run was made from") from err
        if not isinstance(data, dict):
            raise ConfigError("recipe", f"{path} is not a YAML mapping", fix="pass the recipe YAML of the run")
        return cls(name=path.name, sha256=file_sha256(path), content=_names_only(data),
                   baseline_weights=_weights_facts(path.parent, str((data.get("model") or {}).get("weights", ""))))


def _weights_facts(recipe_dir: Path, weights: str) -> dict[str, Any]:
    path = recipe_dir / weights if weights else None
    if path is None or not path.is_file():
        return {"name": Path(weights).name, "sha256": None, "same_as_shipped_fp32": None}
    sha = file_sha256(path)
    shipped = ASSETS / "demo_detector" / WEIGHTS_NAME
    return {"name": path.name, "sha256": sha, "same_as_shipped_fp32": shipped.is_file() and file_sha256(shipped) == sha}


def _names_only(value: Any) -> Any:
    """Absolute paths of the machine the run was made on are reduced to file names."""
    if isinstance(value, dict):
        return {k: _names_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_names_only(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return Path(value).name
    return value


def _report_rows(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / "report.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError("run_dir", f"no readable report.json in {run_dir}: {err}",
                          fix="wait until edge-ai-ros compress has finished (it writes report.json last)") from err
    return {str(row["name"]): row for row in rows}


def _lineage(rows: Mapping[str, Mapping[str, Any]], variant: str) -> list[str]:
    chain = [variant]
    while rows[chain[-1]]["source"] in rows and chain[-1] != rows[chain[-1]]["source"]:
        chain.append(str(rows[chain[-1]]["source"]))
    return chain[::-1]


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _ship_variant(run_dir: Path, row: Mapping[str, Any], dest: Path, *, model_id_prefix: str,
                  recipe: RecipeFacts, val_images: int, seed: int) -> Path:
    """Copy one variant's ONNX (+ weights) into ``dest`` and write its completed manifest."""
    src = run_dir / str(row["name"])
    _copy(src / "model.onnx", dest / ONNX_NAME)
    _copy(src / "model.safetensors", dest / WEIGHTS_NAME)
    original = load_manifest(src / "model.onnx.manifest.json")
    onnx = dest / ONNX_NAME
    sha = file_sha256(onnx)
    compression = dict(original.build.get("compression", {}))
    compression["recipe"] = {"name": recipe.name, "sha256": recipe.sha256}
    build = {**original.build, "compression": compression, "parameters": int(row["params"]),
             "macs": int(row["macs"]), "weights": WEIGHTS_NAME}
    accuracy = {"metric": "map50", "map": _map50(row), "iou_threshold": 0.5, "eval_split": "eval",
                "eval_seed": seed, "eval_images": val_images,
                "evaluated_with": f"onnxruntime {row['precision']} (edge-ai-ros compress)"}
    manifest = original.with_updates(
        model_id=f"{model_id_prefix}-{sha[:8]}", source_onnx_sha256=sha, build=build, accuracy=accuracy,
        artifact=ArtifactSpec(path=ONNX_NAME, format="onnx", sha256=sha, size_bytes=onnx.stat().st_size,
                              files=describe_files(onnx, "onnx")))
    return _validated(save_manifest(manifest, dest / f"{ONNX_NAME}.manifest.json"))


def _map50(row: Mapping[str, Any]) -> float:
    """The variant's held-out mAP@0.5 from its report row (``metric`` named by ``metric_name``)."""
    if row.get("metric_name") != "mAP@0.5" or row.get("metric") is None:
        raise ConfigError("variant", f"{row['name']!r} has no mAP@0.5 in report.json "
                                     f"(metric {row.get('metric_name')!r} = {row.get('metric')!r})",
                          fix="ship a detection variant the run evaluated (task kind: detection, data.eval set)")
    return float(row["metric"])


def _eval_facts(recipe: RecipeFacts) -> tuple[int, int]:
    """(held-out images, their seed) of the run's evaluation: ``data.eval_kwargs`` of the recipe."""
    data = recipe.content.get("data") or {}
    kwargs = data.get("eval_kwargs") or {}
    images = kwargs.get("num_images", data.get("val_images", 0))
    return int(images), int(kwargs.get("seed", recipe.content.get("seed", 0)))


def _validated(manifest_path: Path) -> Path:
    verify_artifact(load_manifest(manifest_path), manifest_path)
    return manifest_path


def ship(run_dir: Path, variant: str, recipe_path: Path, dest: Path = INT8_DIR) -> Path:
    """Ship ``variant`` (an INT8 variant of the run) and its FP32 parent into ``dest``; returns the manifest."""
    rows = _report_rows(run_dir)
    if variant not in rows:
        raise ConfigError("variant", f"{variant!r} is not in {run_dir}/report.json ({sorted(rows)})", fix="pick one")
    row = rows[variant]
    parent = rows.get(str(row["source"]))
    if row["precision"] != "int8" or parent is None or parent["precision"] != "fp32":
        raise ConfigError("variant", f"{variant!r} is {row['precision']} from {row['source']!r}",
                          fix="ship a QAT variant whose parent is an FP32 variant of the same run")
    recipe = RecipeFacts.read(recipe_path)
    val_images, seed = _eval_facts(recipe)
    for checked in (row, parent):
        _map50(checked)
    with atomic_output_dir(dest) as staging:  # a failure leaves ``dest`` as it was
        _ship_variant(run_dir, row, staging, model_id_prefix="demo_detector_int8", recipe=recipe,
                      val_images=val_images, seed=seed)
        _ship_variant(run_dir, parent, staging / REFERENCE_FOLDER, model_id_prefix="demo_detector_pruned",
                      recipe=recipe, val_images=val_images, seed=seed)
        provenance = {
            "variant": variant, "fp32_reference": parent["name"], "lineage": _lineage(rows, variant),
            "recipe": {"name": recipe.name, "sha256": recipe.sha256, "content": recipe.content},
            "baseline_weights": recipe.baseline_weights, "run_rows": [rows[name] for name in rows],
            "shipped_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": f"edge-ai-ros compress {recipe.name}",
        }
        atomic_write_text(staging / PROVENANCE_NAME, json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    return dest / f"{ONNX_NAME}.manifest.json"
