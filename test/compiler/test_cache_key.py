from __future__ import annotations

from dataclasses import replace

import pytest

from edge_ai_ros.compiler.cache_key import CacheKeyInputs
from edge_ai_ros.errors import ConfigError

BASE = CacheKeyInputs(
    onnx_sha256="a" * 64, precision="int8", backend="onnxruntime", backend_version="1.32.0",
    device="cpu:x86_64:avx2", calibration={"method": "minmax", "data_fingerprint": "f1"},
    shape_profiles={"images": ["batch", 3, 32, 32]}, flags={"max_drop": 1.0},
)


def test_same_inputs_same_key() -> None:
    assert BASE.key() == replace(BASE).key()
    assert len(BASE.key()) == 64


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "b" * 64}, {"precision": "fp32"}, {"backend": "openvino"}, {"backend_version": "1.33.0"},
    {"device": "cpu:x86_64:avx2,amx_int8"}, {"calibration": {"method": "entropy", "data_fingerprint": "f1"}},
    {"calibration": {"method": "minmax", "data_fingerprint": "f2"}}, {"shape_profiles": {"images": [8, 3, 32, 32]}},
    {"flags": {"max_drop": 2.0}},
])
def test_any_change_gives_a_new_key(change: dict[str, object]) -> None:
    assert replace(BASE, **change).key() != BASE.key()  # type: ignore[arg-type]


def test_empty_field_is_refused() -> None:
    with pytest.raises(ConfigError, match="cache_key.device"):
        replace(BASE, device="")
