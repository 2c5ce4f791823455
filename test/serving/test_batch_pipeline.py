"""Many cameras through one real engine (ONNX Runtime): batches, per-frame results, bad frames, swaps."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_detector import build_detector

from edge_ai_ros.errors import EdgeAiError, InvalidInputError
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.results import FrameResult
from edge_ai_ros.serving.batch_pipeline import BatchPipeline, BatchTimes, Hooks
from edge_ai_ros.serving.batcher import Batcher, BatchPolicy, Frame
from edge_ai_ros.serving.model_slot import ModelSlot

CAMS = ("front", "left", "right")
TIMEOUT_S = 20.0


def _wait(condition: Any, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"not met within {timeout_s} s")


def _image(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    rgb[..., 0] //= 1 + seed % 3  # a different box per image
    return rgb


class Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: list[tuple[Frame[Any], FrameResult, BatchTimes]] = []
        self.rejected: list[tuple[str, str]] = []
        self.failed: list[str] = []

    def hooks(self) -> Hooks[Any]:
        return Hooks(convert=self.convert, publish=self.publish, rejected=self.reject, failed=self.fail)

    @staticmethod
    def convert(item: Any) -> np.ndarray:
        if isinstance(item, str):
            raise InvalidInputError("encoding", f"{item!r} is not supported", fix="send rgb8")
        return np.asarray(item[1])

    def publish(self, frame: Frame[Any], result: FrameResult, times: BatchTimes) -> None:
        with self.lock:
            self.answers.append((frame, result, times))

    def reject(self, frame: Frame[Any], err: InvalidInputError) -> None:
        with self.lock:
            self.rejected.append((frame.camera, str(err)))

    def fail(self, err: EdgeAiError) -> None:
        with self.lock:
            self.failed.append(str(err))

    def by_camera(self, camera: str) -> list[tuple[Frame[Any], FrameResult, BatchTimes]]:
        with self.lock:
            return [a for a in self.answers if a[0].camera == camera]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_detector(tmp_path_factory.mktemp("batch_model"), dynamic_batch=True)


def _pipeline(manifest: Path, sink: Sink, cameras: tuple[str, ...] = CAMS,
              **policy: Any) -> tuple[BatchPipeline[Any], Batcher[Any], ModelSlot[Perception]]:
    slot: ModelSlot[Perception] = ModelSlot()
    slot.replace(Perception(manifest, backend="onnxruntime"))
    perception = slot.peek()
    assert perception is not None
    batch_policy = BatchPolicy(cameras=cameras, **{"batch_timeout_s": 0.05, **policy})
    batcher: Batcher[Any] = Batcher(batch_policy, batch_size=batch_policy.batch_size(perception.batch_limit))
    pipeline = BatchPipeline(batcher, slot, sink.hooks(), max_age_s=batch_policy.max_age_s,
                             inline=len(cameras) == 1)
    pipeline.start()
    return pipeline, batcher, slot


def test_a_dynamic_batch_model_runs_all_cameras_in_one_call_each_answer_matching_its_own_frame(
    manifest: Path,
) -> None:
    sink = Sink()
    pipeline, batcher, slot = _pipeline(manifest, sink)
    assert batcher.batch_size == 3 and pipeline.threads == ("batch_prepare", "batch_run", "batch_publish")
    sizes = {"front": (640, 480), "left": (320, 240), "right": (1280, 720)}
    images = {cam: _image(i, *sizes[cam]) for i, cam in enumerate(CAMS)}
    try:
        for cam in CAMS:
            batcher.put(cam, (cam, images[cam]))
        _wait(lambda: len(sink.answers) == 3)
    finally:
        pipeline.stop()
    with Perception(manifest, backend="onnxruntime") as reference:
        for frame, result, times in sink.answers:
            expected = reference.run(images[frame.camera])
            assert frame.item[0] == frame.camera
            assert times.size == 3  # one engine call for the three cameras
            assert [d.class_id for d in result.detections] == [d.class_id for d in expected.detections]
            assert np.asarray([d.box for d in result.detections]) == pytest.approx(
                np.asarray([d.box for d in expected.detections]), abs=1e-3)
            assert max(d.box[2] for d in result.detections) > 32  # the camera's own pixels
    slot.release()


def test_a_bad_frame_is_counted_on_its_camera_and_the_others_are_answered(manifest: Path) -> None:
    sink = Sink()
    pipeline, batcher, slot = _pipeline(manifest, sink)
    try:
        batcher.put("front", ("front", _image(1, 64, 48)))
        batcher.put("left", "yuv422")
        batcher.put("right", ("right", _image(2, 64, 48)))
        _wait(lambda: len(sink.answers) == 2)
    finally:
        pipeline.stop()
    counts = batcher.stats.snapshot()
    assert counts["left"]["dropped_bad_frame"] == 1 and counts["left"]["answered"] == 0
    assert counts["front"]["answered"] == counts["right"]["answered"] == 1
    assert sink.rejected == [("left", "encoding: 'yuv422' is not supported (fix: send rgb8)")]
    slot.release()


def test_a_swap_while_cameras_stream_keeps_every_camera_answered(manifest: Path, tmp_path: Path) -> None:
    sink = Sink()
    pipeline, batcher, slot = _pipeline(manifest, sink, batch_timeout_s=0.005)
    shifted = build_detector(tmp_path / "shifted", "tiny-shifted", box_shift=4.0, dynamic_batch=True)
    stop = threading.Event()

    def stream() -> None:
        k = 0
        while not stop.is_set():
            for cam in CAMS:
                batcher.put(cam, (cam, _image(k, 64, 48)))
            k += 1
            time.sleep(0.01)

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    try:
        _wait(lambda: all(len(sink.by_camera(c)) >= 5 for c in CAMS))
        old = slot.replace(Perception(shifted, backend="onnxruntime"))
        assert old is not None
        old.close()  # as the hot swap does: the batch in flight decodes without its engine
        _wait(lambda: all(any(r.model_id == "tiny-shifted" for _, r, _ in sink.by_camera(c)) for c in CAMS))
    finally:
        stop.set()
        streamer.join(5.0)
        pipeline.stop()
    assert not sink.failed
    for cam in CAMS:
        ids = [r.model_id for _, r, _ in sink.by_camera(cam)]
        switch = ids.index("tiny-shifted")
        assert set(ids[:switch]) == {"tiny-detector"} and set(ids[switch:]) == {"tiny-shifted"}
    slot.release()


def test_a_fixed_batch_model_serves_every_camera_one_frame_per_call(tmp_path: Path) -> None:
    sink = Sink()
    pipeline, batcher, slot = _pipeline(build_detector(tmp_path), sink)
    assert batcher.batch_size == 1
    try:
        for cam in CAMS:
            batcher.put(cam, (cam, _image(3, 64, 48)))
        _wait(lambda: len(sink.answers) == 3)
    finally:
        pipeline.stop()
    assert {a[0].camera for a in sink.answers} == set(CAMS)
    slot.release()


def test_one_camera_runs_its_stages_on_one_thread_and_answers_every_frame_in_order(manifest: Path) -> None:
    sink = Sink()
    pipeline, batcher, slot = _pipeline(manifest, sink, cameras=("front",))
    assert pipeline.threads == ("batch_prepare",)
    try:
        for k in range(5):
            batcher.put("front", ("front", _image(k, 64, 48)))
            _wait(lambda k=k: len(sink.answers) == k + 1)
    finally:
        pipeline.stop()
    assert [a[0].item[1].tobytes() for a in sink.answers] == [_image(k, 64, 48).tobytes() for k in range(5)]
    assert not pipeline.alive
    slot.release()
