# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from compiler_models import image_folder, scene_folder  # noqa: F401 - pytest fixtures
from PIL import Image
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from edge_ai_ros.compiler.calibration_data import CalibrationConfig, evenly_spaced, load_calibration_set
from edge_ai_ros.demo.scene import scene_at
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import CompileError, ConfigError
from edge_ai_ros.imaging.compressed import encode_compressed
from edge_ai_ros.manifest import PreprocessSpec
from edge_ai_ros.preprocess import preprocess

SPEC = PreprocessSpec(width=32, height=32)
INPUT = TensorSpec(name="images", shape=("batch", 3, 32, 32), dtype="float32")


def _config(source: Path, **kw: object) -> CalibrationConfig:
    return CalibrationConfig(source=str(source), **kw)  # type: ignore[arg-type]


def test_folder_is_preprocessed_with_the_node_code_and_split_disjointly(image_folder: Path) -> None:
    data = load_calibration_set(_config(image_folder), SPEC, INPUT)
    assert len(data.calibration) == 9 and len(data.holdout) == 3
    first = np.asarray(Image.open(image_folder / "frame_000.png").convert("RGB"))
    np.testing.assert_array_equal(data.calibration[0], preprocess(first, SPEC)[0])
    calib_bytes = {t.tobytes() for t in data.calibration}
    assert not any(t.tobytes() in calib_bytes for t in data.holdout)
    assert data.fingerprint == load_calibration_set(_config(image_folder), SPEC, INPUT).fingerprint


def test_fingerprint_changes_with_the_data(image_folder: Path) -> None:
    before = load_calibration_set(_config(image_folder), SPEC, INPUT).fingerprint
    Image.fromarray(scene_at("calibration", 0, 99, 64, 48).image).save(image_folder / "frame_000.png")
    assert load_calibration_set(_config(image_folder), SPEC, INPUT).fingerprint != before


def test_sampling_is_even_and_capped() -> None:
    assert evenly_spaced(100, 5) == [0, 25, 50, 74, 99]
    assert evenly_spaced(3, 5) == [0, 1, 2]


def test_photos_of_mixed_sizes_are_letterboxed_one_by_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    photos = {}
    for i, (w, h) in enumerate([(64, 48), (40, 90), (33, 33), (120, 20), (64, 48), (17, 50), (80, 60), (50, 50)]):
        photos[f"photo_{i}.jpg"] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(photos[f"photo_{i}.jpg"]).save(tmp_path / f"photo_{i}.jpg", quality=95)
    data = load_calibration_set(_config(tmp_path, holdout_every=4), SPEC, INPUT)
    assert len(data.calibration) + len(data.holdout) == len(photos)
    tall = np.asarray(Image.open(tmp_path / "photo_1.jpg").convert("RGB"))
    expected = preprocess(tall, SPEC)[0]
    assert any(np.array_equal(t, expected) for t in (*data.calibration, *data.holdout))
    assert all(t.shape == (1, 3, 32, 32) for t in data.calibration)


def test_real_photo_crops_of_mixed_sizes_each_match_the_serving_preprocess(tmp_path: Path) -> None:
    cbook = pytest.importorskip("matplotlib.cbook")
    photo = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    crops = {"a_full.jpg": photo, "b_face.png": photo[50:350, 150:400], "c_wide.jpg": photo[300:400, :],
             "d_tall.png": photo[:, 200:260], "e_small.jpg": photo[::9, ::9]}
    for name, crop in crops.items():
        Image.fromarray(np.ascontiguousarray(crop)).save(tmp_path / name, quality=95)
    data = load_calibration_set(_config(tmp_path, holdout_every=5, min_samples=4), SPEC, INPUT)
    tensors = [*data.calibration, *data.holdout]
    assert len(tensors) == len(crops) and len({t.tobytes() for t in tensors}) == len(crops)
    for name in crops:
        served = preprocess(np.asarray(Image.open(tmp_path / name).convert("RGB")), SPEC)[0]
        assert any(np.array_equal(t, served) for t in tensors), name


def test_unreadable_image_names_the_file(image_folder: Path) -> None:
    (image_folder / "frame_005.png").write_bytes(b"not a png")
    with pytest.raises(CompileError, match=r"frame_005.png cannot be read"):
        load_calibration_set(_config(image_folder), SPEC, INPUT)


def test_empty_or_small_source_is_refused(tmp_path: Path, scene_folder) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CompileError, match="too small: 0 images"):
        load_calibration_set(_config(empty), SPEC, INPUT)
    with pytest.raises(CompileError, match="too small: 3 images"):
        load_calibration_set(_config(scene_folder(tmp_path / "few", 3)), SPEC, INPUT)
    with pytest.raises(CompileError, match="does not exist"):
        load_calibration_set(_config(tmp_path / "nope"), SPEC, INPUT)


def test_npy_tensors_are_used_as_they_are(tmp_path: Path) -> None:
    tensors = np.random.default_rng(0).random((10, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "calib.npy", tensors)
    data = load_calibration_set(_config(tmp_path / "calib.npy"), SPEC, INPUT)
    assert data.source_kind == "npy" and len(data.calibration) + len(data.holdout) == 10
    np.testing.assert_array_equal(data.calibration[0], tensors[:1])


def test_npy_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "calib.npy", np.zeros((10, 3, 16, 16), np.float32))
    with pytest.raises(CompileError, match=r"shape \(3, 16, 16\) does not match input images"):
        load_calibration_set(_config(tmp_path / "calib.npy"), SPEC, INPUT)


def _write_bag(path: Path, frames: int, topic: str = "/camera/image_raw/compressed") -> Path:
    store = get_typestore(Stores.ROS2_JAZZY)
    msg_t, header_t, time_t = (store.types[n] for n in (
        "sensor_msgs/msg/CompressedImage", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    with Writer(path, version=9) as writer:
        conn = writer.add_connection(topic, msg_t.__msgtype__, typestore=store)
        for i in range(frames):
            jpeg = encode_compressed(scene_at("calibration", 1, i, 64, 48).image, "jpeg")
            msg = msg_t(header=header_t(stamp=time_t(sec=i, nanosec=0), frame_id="cam"), format="jpeg",
                        data=np.frombuffer(jpeg, np.uint8))
            writer.write(conn, i * 1_000_000, store.serialize_cdr(msg, msg_t.__msgtype__))
    return path


def test_bag_topic_is_sampled_with_a_cap(tmp_path: Path) -> None:
    bag = _write_bag(tmp_path / "bag", 30)
    data = load_calibration_set(_config(bag, topic="/camera/image_raw/compressed", max_samples=6), SPEC, INPUT)
    assert data.source_kind == "rosbag2"
    assert len(data.calibration) == 6 and len(data.holdout) == 2
    assert data.calibration[0].shape == (1, 3, 32, 32)


def test_bag_without_the_topic_lists_what_it_has(tmp_path: Path) -> None:
    bag = _write_bag(tmp_path / "bag", 5)
    with pytest.raises(CompileError, match=r"topic '/front/image' is not in the bag.*image_raw/compressed"):
        load_calibration_set(_config(bag, topic="/front/image"), SPEC, INPUT)


def test_bad_method_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="calib_method"):
        _config(tmp_path, method="kl")
