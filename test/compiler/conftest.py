"""Fixtures for compiler tests: tiny models and calibration sources in tmp_path."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import make_classifier, make_detector, write_scene_folder  # noqa: E402


@pytest.fixture
def classifier_onnx(tmp_path: Path) -> Path:
    return make_classifier(tmp_path / "models" / "tiny_classifier.onnx")


@pytest.fixture
def detector_onnx(tmp_path: Path) -> Path:
    return make_detector(tmp_path / "models" / "tiny_detector.onnx")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_scene_folder(tmp_path / "calib", 12)


@pytest.fixture
def scene_folder() -> Callable[[Path, int], Path]:
    return write_scene_folder
