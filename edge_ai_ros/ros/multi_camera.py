"""Many cameras in one inference node: topics per camera, one batcher, the batch pipeline.

With the ``cameras`` parameter set, each camera NAME gets the subscriptions ``NAME/image_raw``
and ``NAME/image_raw/compressed`` and the task's outputs under ``NAME/`` (ros/outputs.py). The
subscription callbacks only hand the message to the batcher (serving/batcher.py); the batch
pipeline (serving/batch_pipeline.py) converts, letterboxes, runs one engine call per batch and
publishes each result with its own input's header. ``/diagnostics`` gets one more status,
``<node>/cameras``: per camera received, answered and dropped by reason, plus batch sizes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import CompressedImage, Image

from edge_ai_ros.errors import EdgeAiError, InvalidInputError
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.results import FrameResult
from edge_ai_ros.ros import conversions, frame_timings
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.frame_intake import FrameTopic
from edge_ai_ros.ros.outputs import Outputs
from edge_ai_ros.serving.batch_pipeline import BatchPipeline, BatchTimes, Hooks
from edge_ai_ros.serving.batcher import Batcher, BatchPolicy, Frame
from edge_ai_ros.serving.camera_stats import COUNTS, DROP_REASONS
from edge_ai_ros.serving.model_slot import ModelSlot
from edge_ai_ros.serving.output_log import OutputLog, frame_confidence
from edge_ai_ros.serving.serving_stats import ServingStats
from edge_ai_ros.serving.settings import NodeSettings

_LOG_THROTTLE_S = 2.0
_JOIN_S = 10.0
_QUEUE_DROPS = tuple(r for r in DROP_REASONS if r not in ("bad_frame", "failed"))  # counted as frames_dropped


def policy_of(settings: NodeSettings) -> BatchPolicy | None:
    """The validated batching policy of ``settings`` (None: single-camera node); raises ConfigError."""
    if not settings.cameras:
        return None
    return BatchPolicy(cameras=settings.cameras, priorities=settings.camera_priorities, max_batch=settings.max_batch,
                       batch_timeout_s=settings.batch_timeout_ms / 1e3, max_age_s=settings.max_age_ms / 1e3)


@dataclass(frozen=True, kw_only=True)
class NodeParts:
    """What the camera path shares with the node: model slot, counters, output log, publishers."""

    node: LifecycleNode
    slot: ModelSlot[Perception]
    stats: ServingStats
    log: OutputLog
    settings: Callable[[], NodeSettings]
    outputs: dict[str, Outputs]  # camera -> its publishers
    timings: Any = None  # the ~/frame_timings publisher, or None


class CameraRun:
    """The frame path of one activation with many cameras (created on activate, stopped on deactivate)."""

    def __init__(self, parts: NodeParts, policy: BatchPolicy, *, engine_batch_limit: int) -> None:
        self._parts, self._policy = parts, policy
        self.batcher: Batcher[Image | CompressedImage] = Batcher(
            policy, batch_size=policy.batch_size(engine_batch_limit), clock=frame_timings.now)
        hooks: Hooks[Image | CompressedImage] = Hooks(convert=self._convert, publish=self._publish,
                                                      rejected=self._rejected, failed=self._failed)
        self._pipeline = BatchPipeline(self.batcher, parts.slot, hooks, max_age_s=policy.max_age_s,
                                       clock=frame_timings.now, inline=len(policy.cameras) == 1)
        self._last: dict[str, dict[str, int]] = self.batcher.stats.snapshot()

    def topics(self) -> list[FrameTopic]:
        """Two subscriptions per camera: NAME/image_raw and NAME/image_raw/compressed."""
        out = []
        for camera in self._policy.cameras:
            callback = self._on_frame(camera)
            out += [FrameTopic(msg_type=Image, name=f"{camera}/image_raw", callback=callback),
                    FrameTopic(msg_type=CompressedImage, name=f"{camera}/image_raw/compressed", callback=callback)]
        return out

    def start(self) -> None:
        self._pipeline.start()

    def stop(self) -> int:
        """Stop the pipeline; return the frames left waiting (counted dropped by the caller)."""
        self._pipeline.stop(_JOIN_S)
        return self.batcher.clear()

    def describe(self) -> str:
        return (f"{len(self._policy.cameras)} cameras {list(self._policy.cameras)}, batch {self.batcher.batch_size}, "
                f"timeout {self._policy.batch_timeout_s * 1e3:g} ms, max age {self._policy.max_age_s * 1e3:g} ms")

    def queue_drops(self) -> int:
        """Frames dropped before the engine (superseded, too_old, shed), all cameras together."""
        snap = self.batcher.stats.snapshot()
        return sum(counts[f"dropped_{r}"] for counts in snap.values() for r in _QUEUE_DROPS)

    # ---- frames ---------------------------------------------------------------------------
    def _on_frame(self, camera: str) -> Callable[[Any], None]:
        put, stats, log = self.batcher.put, self._parts.stats, self._parts.log

        def on_frame(msg: Any) -> None:
            stats.count("in")
            log.arrived(frame_timings.now())
            put(camera, msg)
            time.sleep(0)  # hand the GIL to the pipeline now (as the single-camera callback does)

        return on_frame

    def _convert(self, msg: Image | CompressedImage) -> Any:
        pixels = self._parts.settings().max_image_pixels  # live: read per frame
        if isinstance(msg, Image):
            return conversions.image_to_rgb(msg, max_pixels=pixels)
        return conversions.compressed_to_rgb(msg, max_pixels=pixels)

    def _publish(self, frame: Frame[Image | CompressedImage], result: FrameResult, times: BatchTimes) -> None:
        parts, header = self._parts, frame.item.header
        try:
            parts.outputs[frame.camera].publish(result, header)
        except _rclpy.RCLError:
            if not parts.node.context.ok():
                return  # shut down while a batch was in flight: nothing left to publish to
            raise
        published = frame_timings.now()
        parts.log.published(published, result.model_id, frame_confidence(result))
        if parts.timings is not None:
            t = result.timings
            parts.timings.publish(frame_timings.to_msg(frame_timings.FrameTimes(
                stamp_sec=header.stamp.sec, stamp_nanosec=header.stamp.nanosec, callback=frame.received,
                dequeued=times.taken, converted=times.prepared, preprocess_s=t.preprocess_s,
                inference_s=t.inference_s, postprocess_s=t.postprocess_s, ran=times.ran, published=published)))
        now_ns = parts.node.get_clock().now().nanoseconds
        frame_ns = stamp_ns(header.stamp)
        parts.stats.record(result.timings, node_total_s=published - frame.received,
                           input_age_s=max(0, now_ns - frame_ns) / 1e9)

    def _rejected(self, frame: Frame[Image | CompressedImage], err: InvalidInputError) -> None:
        self._parts.stats.reject(str(err))  # the text starts with the field, as the single-camera node's
        self._parts.node.get_logger().warning(f"camera {frame.camera}: frame rejected: {err}",
                                              throttle_duration_sec=_LOG_THROTTLE_S)

    def _failed(self, err: EdgeAiError) -> None:
        self._parts.stats.count("failed")
        self._parts.node.get_logger().error(f"batch failed: {err}", throttle_duration_sec=_LOG_THROTTLE_S)

    # ---- diagnostics ----------------------------------------------------------------------
    def status(self, name: str, hardware_id: str) -> DiagnosticStatus:
        """Per camera counts (``NAME.received``, ``NAME.answered``, ``NAME.dropped_<reason>``) and batch sizes.

        WARN when a camera sent frames in the last period and none was answered."""
        stats = self.batcher.stats
        now = stats.snapshot()
        before, self._last = self._last, now
        silent = [c for c in self._policy.cameras
                  if now[c]["received"] > before[c]["received"] and now[c]["answered"] == before[c]["answered"]]
        sizes = stats.batch_sizes()
        values: list[tuple[str, object]] = [("cameras", ",".join(self._policy.cameras)),
                                            ("batch_size", self.batcher.batch_size), ("batches", sizes.batches),
                                            ("batch_size_mean", f"{sizes.mean:.2f}"), ("batch_size_max", sizes.max)]
        for camera in self._policy.cameras:
            values += [(f"{camera}.{key}", now[camera][key]) for key in COUNTS]
        level = DiagnosticStatus.WARN if silent else DiagnosticStatus.OK
        message = f"no answers for {', '.join(silent)}" if silent else f"{len(self._policy.cameras)} cameras"
        return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                                values=[KeyValue(key=k, value=str(v)) for k, v in values])
