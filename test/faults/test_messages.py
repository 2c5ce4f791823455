"""Error texts name the field once and give one remedy, however often an error is re-raised."""

from __future__ import annotations

import pytest

from edge_ai_ros.errors import CompileError, ConfigError, EngineError, InvalidInputError, ManifestError
from edge_ai_ros.imaging.compressed import decode_compressed


def test_a_wrapping_error_with_its_own_fix_prints_one_fix() -> None:
    inner = EngineError("onnxruntime cannot load m.onnx", fix="replace operators (see the log) or use another backend")
    outer = CompileError(f"the accuracy gate could not run the built engine: {inner}", fix="try another backend")
    assert str(outer).count("(fix:") == 1
    assert str(outer) == ("the accuracy gate could not run the built engine: onnxruntime cannot load m.onnx "
                          "(fix: try another backend)")


def test_a_wrapping_error_without_a_fix_keeps_the_inner_one() -> None:
    inner = ManifestError("manifest not found: x.json", fix="pass an existing manifest")
    outer = EngineError(f"swap refused: {inner}")
    assert str(outer).count("(fix:") == 1 and str(outer).endswith("(fix: pass an existing manifest)")


def test_field_errors_name_the_field_once() -> None:
    err = InvalidInputError("data", "is empty", fix="send the bytes")
    assert str(err) == "data: is empty (fix: send the bytes)" and err.message == "data: is empty"
    renamed = ConfigError(f"steps[0].{err.field}", err.message.split(": ", 1)[-1], fix=err.fix)
    assert str(renamed) == "steps[0].data: is empty (fix: send the bytes)"


def test_rejected_frame_text_starts_with_its_field_once() -> None:
    with pytest.raises(InvalidInputError) as caught:
        decode_compressed(format="png", data=b"")
    assert str(caught.value).startswith("data: is empty") and not str(caught.value).startswith("data: data:")
