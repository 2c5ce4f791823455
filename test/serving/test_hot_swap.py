"""Hot model swap, rollback and resource hygiene of the inference node, in its own process.

Two tiny detectors whose boxes differ (tiny_detector box_shift) stream answers over real rclpy;
every output must carry the id of the model that produced it and that model's boxes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from node_harness import Harness, header, image_msg, init_context, stamp_ns, wait_for  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.atomic_io import file_sha256  # noqa: E402
from edge_ai_ros.imaging.raw import encode_raw  # noqa: E402
from edge_ai_ros.manifest import PreprocessSpec, load_manifest, save_manifest  # noqa: E402
from edge_ai_ros.msg import ModelInfo  # noqa: E402
from edge_ai_ros.pipeline import Perception  # noqa: E402
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402
from edge_ai_ros.ros.environment import apply_ros_env_defaults  # noqa: E402
from edge_ai_ros.ros.qos import latched_qos  # noqa: E402
from edge_ai_ros.srv import SwapModel  # noqa: E402

BACKEND = "onnxruntime"
RGB = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)
RGB[..., 0] //= 3  # unequal channel means: anchor 0's box sits away from the centre
MSG_TEMPLATE = encode_raw(RGB, "rgb8")
EXECUTOR_THREADS = 5  # inference_node.main's MultiThreadedExecutor


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"a": build_detector(root / "a", "model-a"), "b": build_detector(root / "b", "model-b", box_shift=6.0),
            "silent": build_detector(root / "silent", "model-silent", objectness=0.0)}


@pytest.fixture(scope="module")
def expected(models: dict[str, Path]) -> dict[str, list[tuple[int, float, tuple[float, ...]]]]:
    out = {}
    for path in models.values():
        with Perception(path, backend=BACKEND) as perception:
            result = perception.run(RGB)
        out[perception.model_id] = [(d.class_id, d.score, d.box) for d in result.detections]
    assert out["model-a"] != out["model-b"]
    return out


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    apply_ros_env_defaults()
    context = init_context(int(os.environ.get("ROS_DOMAIN_ID", "0")))
    h = Harness(context)
    yield h
    h.close()
    rclpy.try_shutdown(context=context)


class Node:
    """One inference node process in its own namespace, with streaming and service helpers."""

    def __init__(self, harness: Harness, tmp: Path, ns: str, manifest: Path, **params: Any) -> None:
        self.h, self.ns, self.name = harness, ns, f"{ns}/inference_node"
        parameters = {"backend": BACKEND, "model_manifest": str(manifest), "diagnostics_period_s": 0.2, **params}
        self.proc = start_node(NodeLaunch(parameters=parameters, namespace=ns, log_path=tmp / f"{ns[1:]}.log"))
        self.log_path = tmp / f"{ns[1:]}.log"
        harness.listen_detections(f"{ns}/detections")
        self.infos: list[ModelInfo] = []
        harness.node.create_subscription(ModelInfo, f"{self.name}/model_info", self.infos.append, latched_qos())
        self._stamp = 1_700_000_000_000_000_000 + hash(ns) % 1_000_000 * 1_000_000
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def outputs(self) -> list[Any]:
        return list(self.h.detections[f"{self.ns}/detections"])

    def send(self) -> int:
        self._stamp += 1_000_000
        self.h.publisher(f"{self.ns}/image").publish(image_msg(MSG_TEMPLATE, header(self._stamp)))
        return self._stamp

    def serving_model(self) -> str:
        """Publish frames until one sent now is answered; return the model id that answered it."""
        return str(self.answer_now().model_id)

    def answer_now(self) -> Any:
        """Publish frames until one sent now is answered; return that answer."""
        pub = self.h.publisher(f"{self.ns}/image")
        wait_for(lambda: pub.get_subscription_count() > 0)
        sent: list[int] = []

        def answered() -> Any:
            for stamp in sent:
                msg = self.h.answer(f"{self.ns}/detections", stamp)
                if msg is not None:
                    return msg
            sent.append(self.send())
            return None

        return wait_for(answered, poll_s=0.1)

    def stream(self, hz: float = 30.0) -> None:
        """Publish frames at ``hz`` from a thread until stop_stream (paces a camera, not a wait)."""
        def run() -> None:
            next_t = time.monotonic()
            while not self._stop.is_set():
                self.send()
                next_t += 1.0 / hz
                self._stop.wait(max(0.0, next_t - time.monotonic()))

        self._stop.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop_stream(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def swap(self, manifest: Path | str, backend: str = "") -> Any:
        request = SwapModel.Request(manifest_path=str(manifest), backend=backend)
        return self.h.call(SwapModel, f"{self.name}/swap_model", request, timeout_s=30.0)

    def swap_async(self, manifest: Path) -> Any:
        client = self.h.node.create_client(SwapModel, f"{self.name}/swap_model")
        assert client.wait_for_service(timeout_sec=10.0)
        return client.call_async(SwapModel.Request(manifest_path=str(manifest)))

    def rollback(self) -> Any:
        return self.h.call(Trigger, f"{self.name}/rollback", Trigger.Request(), timeout_s=30.0)

    def stop(self) -> None:
        self.stop_stream()
        assert stop_node(self.proc) == 0, self.log_path.read_text()[-3000:]


@pytest.fixture
def node_factory(harness: Harness, tmp_path: Path) -> Iterator[Any]:
    started: list[Node] = []

    def make(ns: str, manifest: Path, **params: Any) -> Node:
        started.append(Node(harness, tmp_path, ns, manifest, **params))
        return started[-1]

    yield make
    for node in started:
        node.stop()


def _boxes(msg: Any) -> list[tuple[int, float, tuple[float, ...]]]:
    return [(d.class_id, d.score, (d.x_min, d.y_min, d.x_max, d.y_max)) for d in msg.detections]


def _assert_answered_by(msg: Any, expected: dict[str, list[Any]]) -> None:
    want = expected[msg.model_id]
    got = _boxes(msg)
    assert len(got) == len(want)
    for (gc, gs, gb), (ec, es, eb) in zip(got, want, strict=True):
        assert gc == ec and gs == pytest.approx(es, abs=1e-4) and gb == pytest.approx(eb, abs=1e-2)


def test_swap_while_streaming_switches_once_and_every_output_matches_its_model(
    node_factory: Any, models: dict[str, Path], expected: dict[str, list[Any]],
) -> None:
    node = node_factory("/t_swap_stream", models["a"])
    assert node.serving_model() == "model-a"
    node.stream()
    wait_for(lambda: len(node.outputs()) >= 10)
    answer = node.swap(models["b"])
    assert answer.success, answer.message
    assert (answer.previous_model_id, answer.new_model_id) == ("model-a", "model-b")
    assert 0 < answer.swap_duration_s < 10.0 and 0 < answer.max_output_gap_s < 10.0
    count = len(node.outputs())
    wait_for(lambda: len(node.outputs()) >= count + 10)
    node.stop_stream()
    ids = [m.model_id for m in sorted(node.outputs(), key=lambda m: stamp_ns(m.header))]
    switch = ids.index("model-b")
    assert switch > 0 and set(ids[:switch]) == {"model-a"} and set(ids[switch:]) == {"model-b"}
    for msg in node.outputs():
        _assert_answered_by(msg, expected)
    wait_for(lambda: node.infos and node.infos[-1].model_id == "model-b")
    assert node.infos[-1].manifest_path == str(models["b"])


def _variant(src: Path, dst: Path, **changes: Any) -> Path:
    """A copy of model ``src`` in ``dst`` with manifest fields changed."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "tiny.onnx").write_bytes((src.parent / "tiny.onnx").read_bytes())
    path = dst / "tiny.onnx.manifest.json"
    save_manifest(load_manifest(src).with_updates(**changes), path)
    return path


def _bad_model(kind: str, models: dict[str, Path], tmp: Path) -> Path:
    manifest = load_manifest(models["b"])
    if kind == "missing path":
        return tmp / "nowhere" / "model.onnx.manifest.json"
    if kind == "corrupt engine":
        (tmp / "tiny.onnx").write_bytes(b"this is not an onnx model" * 10)
        artifact = dataclasses.replace(manifest.artifact, sha256=file_sha256(tmp / "tiny.onnx"),
                                       size_bytes=(tmp / "tiny.onnx").stat().st_size)
        save_manifest(manifest.with_updates(artifact=artifact), tmp / "tiny.onnx.manifest.json")
        return tmp / "tiny.onnx.manifest.json"
    if kind == "sha256 mismatch":
        path = _variant(models["b"], tmp)
        with (tmp / "tiny.onnx").open("ab") as f:
            f.write(b"\0")
        return path
    if kind == "artifact outside its folder":
        path = _variant(models["b"], tmp / "inner")
        artifact = dataclasses.replace(manifest.artifact, path=str(models["b"].parent / "tiny.onnx"))
        save_manifest(manifest.with_updates(artifact=artifact), path)
        return path
    if kind == "NaN threshold":
        path = _variant(models["b"], tmp)
        data = json.loads(path.read_text())
        data["decoder"]["score_threshold"] = float("nan")
        path.write_text(json.dumps(data))
        return path
    if kind == "incompatible inputs":
        return _variant(models["b"], tmp, preprocess=PreprocessSpec(width=48, height=48))
    if kind == "other backend version":
        return _variant(models["b"], tmp, backend=BACKEND, backend_version="0.0.1")
    if kind == "other device":
        return _variant(models["b"], tmp, backend=BACKEND, device="cuda:Orin (sm_87)")
    return _variant(models["b"], tmp, task="classification", decoder=dataclasses.replace(manifest.decoder,
                                                                                          kind="classification"))


BAD = {
    "missing path": "manifest not found",
    "corrupt engine": "(?i)onnxruntime|load|protobuf|parse",
    "sha256 mismatch": "sha256 differs",
    "artifact outside its folder": "artifact.path: .* points outside the manifest's folder",
    "NaN threshold": r"decoder\.score_threshold: NaN is not of type 'number'",
    "incompatible inputs": "preprocess makes float32",
    "other backend version": "backend_version",
    "other device": "device",
    "wrong task": "task",
}


@pytest.fixture(scope="module")
def shared(harness: Harness, models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node(harness, tmp_path_factory.mktemp("shared"), "/t_swap_bad", models["a"], swap_output_wait_s=3.0)
    assert node.serving_model() == "model-a"  # active before the first swap (a swap while inactive is refused)
    yield node
    node.stop()


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_swap_is_refused_and_the_old_model_keeps_serving(
    kind: str, shared: Node, models: dict[str, Path], tmp_path: Path,
) -> None:
    answer = shared.swap(_bad_model(kind, models, tmp_path))
    assert not answer.success
    assert answer.message.startswith("refused") and "model-a keeps serving" in answer.message
    assert re.search(BAD[kind], answer.message), answer.message
    assert not re.search(r"[0-9a-f]{12}", answer.message), "a refusal never quotes a file's hash"
    assert shared.serving_model() == "model-a"


def test_swap_while_inactive_is_refused(shared: Node, models: dict[str, Path]) -> None:
    assert shared.h.change_state(shared.name, label="deactivate")
    try:
        answer = shared.swap(models["b"])
        assert not answer.success and "not active" in answer.message
    finally:
        assert shared.h.change_state(shared.name, label="activate")
    assert shared.serving_model() == "model-a"


def test_second_swap_during_a_swap_is_refused(shared: Node, models: dict[str, Path]) -> None:
    # No frames flow: the first swap waits swap_output_wait_s (3 s) for the new model's first
    # output after installing it, so it is still in progress when model_info announces model-b.
    first = shared.swap_async(models["b"])
    wait_for(lambda: shared.infos and shared.infos[-1].model_id == "model-b")
    second = shared.swap(models["a"])
    assert not second.success and "in progress" in second.message
    wait_for(first.done, 10.0)
    assert first.result().success and "no output by the new model" in first.result().message
    assert shared.serving_model() == "model-b"
    back = shared.rollback()
    assert back.success and "model-b -> model-a" in back.message
    assert shared.serving_model() == "model-a"


def test_a_swapped_in_model_serves_with_thresholds_set_live(
    node_factory: Any, models: dict[str, Path], expected: dict[str, list[Any]], harness: Harness,
) -> None:
    node = node_factory("/t_swap_thresholds", models["a"])
    scores = sorted(score for _, score, _ in expected["model-b"])
    assert len(scores) >= 2
    threshold = (scores[0] + scores[1]) / 2  # drops model-b's weakest detection only
    assert harness.set_parameter(node.name, "score_threshold", threshold).successful
    assert node.swap(models["b"]).success
    answer = node.answer_now()
    assert answer.model_id == "model-b"
    _assert_answered_by(answer, {"model-b": [d for d in expected["model-b"] if d[1] > threshold]})


def test_rollback_returns_to_the_previous_model(node_factory: Any, models: dict[str, Path]) -> None:
    node = node_factory("/t_swap_rollback", models["a"])
    refused = node.rollback()
    assert not refused.success and "no previous model" in refused.message
    assert node.serving_model() == "model-a"  # active before the swap (the services answer before activation)
    swapped = node.swap(models["b"])
    assert swapped.success, swapped.message
    assert node.serving_model() == "model-b"
    answer = node.rollback()
    assert answer.success, answer.message
    assert node.serving_model() == "model-a"
    wait_for(lambda: node.infos and node.infos[-1].model_id == "model-a")


def test_auto_rollback_when_the_new_model_detects_nothing(node_factory: Any, models: dict[str, Path]) -> None:
    node = node_factory("/t_swap_auto", models["a"], auto_rollback=True, rollback_window_s=1.0,
                        min_mean_confidence=0.1)
    assert node.serving_model() == "model-a"
    node.stream()
    wait_for(lambda: len(node.outputs()) >= 5)
    assert node.swap(models["silent"]).success
    wait_for(lambda: any(m.model_id == "model-silent" for m in node.outputs()))
    count = len(node.outputs())
    wait_for(lambda: [m.model_id for m in node.outputs()[count:]][-1:] == ["model-a"], timeout_s=10.0)
    wait_for(lambda: node.infos[-1].model_id == "model-a")
    assert "auto rollback" in node.log_path.read_text()


def _proc_status(pid: int) -> tuple[int, int]:
    """(VmRSS kB, threads) of a process."""
    values = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(values["VmRSS"].split()[0]), int(values["Threads"])


def test_configure_cleanup_cycles_and_swaps_return_threads_and_bound_memory(
    node_factory: Any, models: dict[str, Path],
) -> None:
    node = node_factory("/t_swap_leak", models["a"], swap_output_wait_s=0.0)
    assert node.serving_model() == "model-a"
    rss0, threads0 = _proc_status(node.proc.pid)
    for _ in range(5):
        for label in ("deactivate", "cleanup", "configure", "activate"):
            assert node.h.change_state(node.name, label=label)
    for i in range(20):
        assert node.swap(models["b" if i % 2 == 0 else "a"]).success
    assert node.serving_model() == "model-a"
    seen: list[tuple[int, int]] = []

    def threads_back() -> bool:
        # The node's MultiThreadedExecutor starts its pool threads lazily (up to 5), so the count may
        # rise by that much once; a leak of one thread per swap or cycle would add 25.
        seen.append(_proc_status(node.proc.pid))
        return seen[-1][1] <= threads0 + EXECUTOR_THREADS

    try:
        wait_for(threads_back, timeout_s=5.0, poll_s=0.1)
    except AssertionError:
        pytest.fail(f"threads {threads0} before, {seen[-1][1]} after 5 cycles and 20 swaps")
    assert seen[-1][0] < rss0 * 1.2, f"RSS grew from {rss0} kB to {seen[-1][0]} kB"
