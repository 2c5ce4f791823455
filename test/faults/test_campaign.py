"""The cheap cases of the fault campaign, kept passing: bad frames, broken cache entries, racing builds.

The node-level cases (bad frames during 30 Hz traffic with the node alive, bad swaps refused while
the old model keeps serving) run in test/ros/test_inference_node.py and test/ros/test_hot_swap.py.
docs/faults.md lists every fault kind with its expected and observed behaviour.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from compiler_models import make_classifier
from PIL import Image

from edge_ai_ros.compiler.build import BuildOptions, BuildResult, build_engine
from edge_ai_ros.errors import InvalidInputError
from edge_ai_ros.imaging.compressed import decode_compressed
from edge_ai_ros.imaging.raw import decode_raw
from edge_ai_ros.manifest import load_manifest, verify_artifact

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"encoding": "rgb8", "width": 4, "height": 2, "step": 12, "is_bigendian": 0, "data": bytes(24)}


def _png(mode: str = "RGB", size: tuple[int, int] = (4, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


RAW_CASES = {
    "unknown encoding": ({"encoding": "yuv422_10bit"}, "encoding"),
    "zero width": ({"width": 0, "step": 0, "data": b""}, "width"),
    "zero height": ({"height": 0, "data": b""}, "height"),
    "short step": ({"step": 11}, "step"),
    "short data": ({"data": bytes(23)}, "data"),
    "long data": ({"data": bytes(25)}, "data"),
    "too many pixels": ({"width": 5000, "height": 5000, "step": 15000, "data": b""}, "width"),
}
COMPRESSED_CASES = {
    "no codec in format": ({"format": "bgr8; raw"}, "format"),
    "compressedDepth": ({"format": "16UC1; compressedDepth png"}, "format"),
    "empty data": ({"data": b""}, "data"),
    "garbage": ({"data": b"\x00garbage" * 50}, "data"),
    "truncated png": ({"data": _png()[:40]}, "data"),
    "jpeg declared, png sent": ({"format": "jpeg", "data": _png()}, "data"),
    "png bomb": ({"data": _png("L", (4096, 4096))}, "data"),
}


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_bad_raw_frame_is_rejected_naming_the_field(case: str) -> None:
    changes, field = RAW_CASES[case]
    with pytest.raises(InvalidInputError, match=rf"^{field}: ") as caught:
        decode_raw(**(GOOD | changes))  # type: ignore[arg-type]
    assert caught.value.field == field and "(fix: " in str(caught.value)


@pytest.mark.parametrize("case", list(COMPRESSED_CASES))
def test_bad_compressed_frame_is_rejected_naming_the_field(case: str) -> None:
    changes, field = COMPRESSED_CASES[case]
    with pytest.raises(InvalidInputError, match=rf"^{field}: ") as caught:
        decode_compressed(**({"format": "png", "data": _png()} | changes))  # type: ignore[arg-type]
    assert caught.value.field == field


def _build(model: Path, cache: Path) -> BuildResult:
    return build_engine(BuildOptions(onnx_path=str(model), precision="fp32", backend="onnxruntime",
                                     cache_dir=str(cache)))


@pytest.mark.parametrize("damage", ["corrupted", "truncated", "deleted", "manifest deleted", "manifest garbage"])
def test_damaged_cache_entry_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    model = make_classifier(tmp_path / "m.onnx")
    first = _build(model, tmp_path / "cache")
    engine, manifest = first.engine_path, first.manifest_path
    if damage == "corrupted":
        data = bytearray(engine.read_bytes())
        data[len(data) // 2] ^= 0xFF
        engine.write_bytes(bytes(data))
    elif damage == "truncated":
        engine.write_bytes(engine.read_bytes()[: engine.stat().st_size // 2])
    elif damage == "deleted":
        engine.unlink()
    elif damage == "manifest deleted":
        manifest.unlink()
    else:
        manifest.write_text("{not json")
    second = _build(model, tmp_path / "cache")
    assert not second.cache_hit
    verify_artifact(load_manifest(second.manifest_path), second.manifest_path)


_RACER = textwrap.dedent("""
    import json, sys
    from edge_ai_ros.compiler.build import BuildOptions, build_engine
    r = build_engine(BuildOptions(onnx_path=sys.argv[1], precision="fp32", backend="onnxruntime", cache_dir=sys.argv[2]))
    print(json.dumps({"hit": r.cache_hit, "engine": str(r.engine_path)}))
""")


def test_concurrent_compiles_of_one_key_in_processes_build_once(tmp_path: Path) -> None:
    model = make_classifier(tmp_path / "m.onnx")
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(model), str(tmp_path / "cache")], cwd=ROOT,
                               env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                               text=True) for _ in range(3)]
    answers = [json.loads(r.communicate(timeout=240)[0].strip().splitlines()[-1]) for r in racers]
    assert sorted(a["hit"] for a in answers) == [False, True, True]
    assert len({a["engine"] for a in answers}) == 1
    assert not list((tmp_path / "cache" / "staging").iterdir())
    assert np.all([Path(a["engine"]).is_file() for a in answers])
