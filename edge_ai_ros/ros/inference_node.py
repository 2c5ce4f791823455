"""``inference_node``: a managed (lifecycle) node that runs a perception model on camera frames.

States follow ros2/demos lifecycle_py and Nav2: configure reads parameters, verifies and
loads the model and warms it up (FAILURE with the reason, never an exit); activate creates
the image subscriptions and enables the publishers; deactivate stops taking frames;
cleanup releases everything configure made; shutdown cleans up from any state.

Frames: the image subscriptions live on a helper node with its own executor thread
(ros/frame_intake.py: the node's MultiThreadedExecutor added milliseconds of wake-up and GIL
contention per frame); their callbacks only stash the message (FrameQueue); one worker thread
converts, infers and publishes, so a slow model drops stale frames instead of queueing. With
``publish_frame_timings`` each frame's stage times follow its output (ros/frame_timings.py).

Hot swap (``~/swap_model``, ``~/rollback``, auto rollback): serving/hot_swap.py, run in their own
reentrant callback group so frames keep flowing while a new model loads.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from edge_ai_ros.errors import EdgeAiError, InvalidInputError
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.ros import conversions, frame_timings
from edge_ai_ros.ros.diagnostics import ServingContext, serving_status
from edge_ai_ros.ros.frame_intake import FrameTopic
from edge_ai_ros.ros.input_qos import AdaptiveIntake
from edge_ai_ros.ros.model_loading import load_perception, model_info_msg, retune
from edge_ai_ros.ros.multi_camera import CameraRun, NodeParts, policy_of
from edge_ai_ros.ros.node_main import spin_node
from edge_ai_ros.ros.outputs import INSTANCE_MASK_LAYOUTS, Outputs, create_outputs
from edge_ai_ros.ros.params import (
    DECODER_PARAMS,
    NodeSettings,
    check_change,
    declare_parameters,
    live_changes,
    read_settings,
)
from edge_ai_ros.ros.qos import latched_qos, output_qos
from edge_ai_ros.serving.frame_queue import FrameQueue
from edge_ai_ros.serving.heap import trim_heap
from edge_ai_ros.serving.hot_swap import HotSwapper, RollbackPolicy, ServedModel, SwapOutcome
from edge_ai_ros.serving.model_slot import ModelSlot
from edge_ai_ros.serving.output_log import OutputLog, frame_confidence
from edge_ai_ros.serving.serving_stats import EMPTY, ServingStats

_LOG_THROTTLE_S = 2.0
_WORKER_POLL_S = 0.1
_WORKER_JOIN_S = 10.0
_ROLLBACK_CHECK_S = 0.2
_INPUT_POLL_S = 0.25  # publishers of the image topics are re-read this often (ros/input_qos.py)
_PACE_WAIT_S = 0.05  # a swap warms up right after a frame ends, or after this long without frames

__all__ = ["INSTANCE_MASK_LAYOUTS", "InferenceNode", "main"]


class InferenceNode(LifecycleNode):
    """Serves one perception model: images in, detections/classification/masks out."""

    def __init__(self, node_name: str = "inference_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._slot: ModelSlot[Perception] = ModelSlot()
        self._stats = ServingStats()
        self._log = OutputLog()
        self._swapper = HotSwapper(self._slot, self._log, load=self._load_model, announce=self._announce,
                                   logger=self.get_logger())
        self._settings: NodeSettings | None = None
        self._queue: FrameQueue[tuple[Any, float]] | None = None
        self._worker: threading.Thread | None = None
        self._intake: AdaptiveIntake | None = None
        self._outputs = Outputs()  # the single camera's, or none with cameras
        self._camera_outputs: dict[str, Outputs] = {}  # cameras: each one's, under NAME/
        self._timings_pub: Any = None
        self._cameras: CameraRun | None = None
        self._guard_change_state()
        self._side_group = MutuallyExclusiveCallbackGroup()
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._model_info_pub = self.create_publisher(model_info_type(), "~/model_info", latched_qos())
        self._last_snapshot = EMPTY
        period = float(self.get_parameter("diagnostics_period_s").value)
        self._diag_timer = self.create_timer(period, self._publish_diagnostics, callback_group=self._side_group)
        self._swap_group = ReentrantCallbackGroup()  # a second swap request is answered (refused) at once
        self.create_service(swap_model_type(), "~/swap_model", self._on_swap, callback_group=self._swap_group)
        self.create_service(Trigger, "~/rollback", self._on_rollback, callback_group=self._swap_group)
        self.create_timer(_ROLLBACK_CHECK_S, self._check_rollback, callback_group=self._swap_group)
        self.create_timer(_INPUT_POLL_S, self._poll_inputs, callback_group=self._side_group)
        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            self._autostart_timer = self.create_timer(0.0, self._autostart)

    # ---- lifecycle ---------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            settings = read_settings(self)
            policy_of(settings)  # the camera parameters, checked together (lengths, names)
            perception = load_perception(settings)
        except EdgeAiError as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        self._settings = settings
        self._slot.replace(perception)
        served = ServedModel(model_id=perception.model_id, manifest_path=settings.model_manifest,
                             backend=perception.engine_info.backend, task=perception.manifest.task)
        self._swapper.reset(served)
        self._create_outputs(perception.manifest.task, settings,
                             instance_masks=perception.manifest.decoder.layout in INSTANCE_MASK_LAYOUTS)
        if settings.cameras and perception.batch_limit < len(settings.cameras):
            self.get_logger().info(f"the model takes batches of {perception.batch_limit}: {len(settings.cameras)} "
                                   "cameras run in several engine calls (export a dynamic batch to batch them)")
        self._announce(perception, served)
        self.get_logger().info(
            f"configured: model {perception.model_id} ({perception.manifest.task}) on {perception.engine_info.backend}"
            f" ({perception.engine_info.details.get('backend_choice', 'no reason recorded')})"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self._require_settings()
        topics = self._start_cameras(settings) if settings.cameras else self._start_worker(settings)
        self._intake = AdaptiveIntake(self, topics, mode=settings.input_qos, depth=settings.qos_depth,
                                      fallback=settings.qos_reliability, executor=settings.frame_executor)
        self._swapper.set_serving(True)
        # Everything loaded so far (model, rclpy, numpy) lives as long as the node: move it out of
        # the garbage collector's generations so collections during serving scan only new objects.
        gc.collect()
        gc.freeze()
        frames = self._cameras.describe() if self._cameras is not None else f"drop_policy={settings.drop_policy}"
        self.get_logger().info(f"active: {frames}, input QoS {self._intake.describe()}, "
                               f"frame executor {self._intake.executor_kind}")
        return super().on_activate(state)

    def _start_worker(self, settings: NodeSettings) -> list[FrameTopic]:
        """One camera: the frame queue and the worker thread; subscriptions image and image/compressed."""
        self._queue = FrameQueue(policy=settings.drop_policy, capacity=settings.queue_size)
        self._worker = threading.Thread(target=self._work, args=(self._queue,), name="inference_worker", daemon=True)
        self._worker.start()
        return [FrameTopic(msg_type=Image, name="image", callback=self._on_frame),
                FrameTopic(msg_type=CompressedImage, name="image/compressed", callback=self._on_frame)]

    def _start_cameras(self, settings: NodeSettings) -> list[FrameTopic]:
        """Many cameras: the batcher and the batch pipeline (ros/multi_camera.py); two subscriptions each."""
        policy, perception = policy_of(settings), self._slot.peek()
        assert policy is not None  # settings.cameras is not empty
        parts = NodeParts(node=self, slot=self._slot, stats=self._stats, log=self._log,
                          settings=self._require_settings, outputs=self._camera_outputs, timings=self._timings_pub)
        limit = perception.batch_limit if perception is not None else 1
        self._cameras = CameraRun(parts, policy, engine_batch_limit=limit)
        self._cameras.start()
        return self._cameras.topics()

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_frames()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_configured()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        # Jazzy does not deactivate lifecycle publishers on shutdown: release everything here.
        self.release_resources()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error during a transition from {state.label}; releasing resources")
        self.release_resources()
        return TransitionCallbackReturn.SUCCESS

    def release_resources(self) -> None:
        """Stop frames and release what configure made (idempotent; also used at process exit)."""
        self._stop_frames()
        self._release_configured()

    def destroy_node(self) -> None:
        self.release_resources()
        super().destroy_node()  # type: ignore[no-untyped-call]  # rclpy's own method, unannotated

    # ---- frames ------------------------------------------------------------------------
    def _on_frame(self, msg: Image | CompressedImage) -> None:
        queue = self._queue
        if queue is None:
            return
        received = frame_timings.now()
        self._stats.count("in")
        self._log.arrived(received)
        dropped = queue.put((msg, received))
        if dropped:
            self._stats.count("dropped", dropped)
        # Hand the GIL to the worker now instead of after this executor's Python wait-set rebuild:
        # measured 0.25 -> 0.07 ms p50 from callback to worker (docs/inference_node.md).
        time.sleep(0)

    def _work(self, queue: FrameQueue[tuple[Any, float]]) -> None:
        while True:
            item = queue.get(_WORKER_POLL_S)
            if item is None:
                if queue.closed:
                    return
                continue
            try:
                self._process(*item)
            except _rclpy.RCLError:
                if not self.context.ok():
                    return  # shut down (SIGINT) while a frame was in flight: nothing left to publish to
                raise

    def _process(self, msg: Image | CompressedImage, received: float) -> None:
        settings = self._require_settings()
        dequeued = frame_timings.now()
        try:
            if isinstance(msg, Image):
                rgb = conversions.image_to_rgb(msg, max_pixels=settings.max_image_pixels)
            else:
                rgb = conversions.compressed_to_rgb(msg, max_pixels=settings.max_image_pixels)
            converted = frame_timings.now()
            with self._slot.lease() as perception:
                if perception is None:
                    return
                result = perception.run(rgb)
                ran = frame_timings.now()
                self._outputs.publish(result, msg.header)
                published = frame_timings.now()
                self._log.published(published, result.model_id, frame_confidence(result))
        except InvalidInputError as err:
            self._stats.reject(str(err))  # the text already starts with the field
            self.get_logger().warning(f"frame rejected: {err}", throttle_duration_sec=_LOG_THROTTLE_S)
            return
        except EdgeAiError as err:
            self._stats.count("failed")
            self.get_logger().error(f"frame failed: {err}", throttle_duration_sec=_LOG_THROTTLE_S)
            return
        if self._timings_pub is not None:
            stamp, t = msg.header.stamp, result.timings
            self._timings_pub.publish(frame_timings.to_msg(frame_timings.FrameTimes(
                stamp_sec=stamp.sec, stamp_nanosec=stamp.nanosec, callback=received, dequeued=dequeued,
                converted=converted, preprocess_s=t.preprocess_s, inference_s=t.inference_s,
                postprocess_s=t.postprocess_s, ran=ran, published=published)))
        now_ns = self.get_clock().now().nanoseconds
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self._stats.record(result.timings, node_total_s=published - received,
                           input_age_s=max(0, now_ns - stamp_ns) / 1e9)

    # ---- resources ---------------------------------------------------------------------
    def _create_outputs(self, task: str, settings: NodeSettings, *, instance_masks: bool = False) -> None:
        vision = settings.publish_vision_msgs
        if settings.cameras:
            self._camera_outputs = {cam: create_outputs(self, task, prefix=f"{cam}/", instance_masks=instance_masks,
                                                        vision_msgs=vision) for cam in settings.cameras}
        else:
            self._outputs = create_outputs(self, task, instance_masks=instance_masks, vision_msgs=vision)
        if settings.publish_frame_timings:
            self._timings_pub = self.create_lifecycle_publisher(Float64MultiArray, frame_timings.TOPIC, output_qos())

    def _stop_frames(self) -> None:
        self._swapper.set_serving(False)  # a swap that is still loading will not install
        gc.unfreeze()  # what activate froze may now become garbage (cleanup, a swapped-out model)
        intake, self._intake = self._intake, None
        if intake is not None:
            intake.close()
        cameras, self._cameras = self._cameras, None
        if cameras is not None:
            self._stats.count("dropped", cameras.stop())
        queue, worker = self._queue, self._worker
        self._queue, self._worker = None, None
        if queue is not None:
            queue.close()
            self._stats.count("dropped", queue.clear())
        if worker is not None and worker is not threading.current_thread():
            worker.join(_WORKER_JOIN_S)

    def _release_configured(self) -> None:
        for outputs in (self._outputs, *self._camera_outputs.values()):
            outputs.destroy(self)
        self._camera_outputs = {}
        if self._timings_pub is not None:
            self.destroy_lifecycle_publisher(self._timings_pub)
            self._timings_pub = None
        self._swapper.reset(None)
        self._slot.release()
        trim_heap()
        self._settings = None

    def _require_settings(self) -> NodeSettings:
        if self._settings is None:
            raise RuntimeError("the node is not configured")  # a transition-order bug, not user input
        return self._settings

    # ---- hot swap ----------------------------------------------------------------------
    def _load_model(self, manifest_path: str, backend: str) -> Any:
        return load_perception(self._require_settings(), manifest_path, backend,
                               pace=lambda: self._slot.wait_frame_end(_PACE_WAIT_S))

    def _announce(self, perception: Any, served: ServedModel) -> None:
        # a swap loaded with the thresholds of its start; ones set while it loaded apply from here
        if self._settings is not None:
            retune(perception, self._settings)
        self._model_info_pub.publish(model_info_msg(perception, served.manifest_path, self.get_clock()))

    def _policy(self) -> RollbackPolicy:
        value = {n: self.get_parameter(n).value for n in
                 ("auto_rollback", "rollback_window_s", "min_output_rate_ratio", "min_mean_confidence")}
        return RollbackPolicy(enabled=bool(value["auto_rollback"]), window_s=float(value["rollback_window_s"]),
                              min_output_rate_ratio=float(value["min_output_rate_ratio"]),
                              min_mean_confidence=float(value["min_mean_confidence"]))

    def _on_swap(self, request: Any, response: Any) -> Any:
        self.get_logger().info(f"swap_model requested: {request.manifest_path} (backend {request.backend or 'default'})")
        backend = request.backend or self._swap_backend()
        outcome = self._swapper.swap(request.manifest_path, backend, policy=self._policy(),
                                     wait_output_s=float(self.get_parameter("swap_output_wait_s").value))
        return _fill(response, self._logged(outcome))

    def _on_rollback(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        wait_s = float(self.get_parameter("swap_output_wait_s").value)
        outcome = self._logged(self._swapper.rollback("requested on ~/rollback", wait_output_s=wait_s))
        response.success, response.message = outcome.success, outcome.message
        return response

    def _check_rollback(self) -> None:
        outcome = self._swapper.check_rollback(time.monotonic())
        if outcome is not None:
            self._logged(outcome)

    def _swap_backend(self) -> str:
        settings = self._settings
        return settings.backend if settings is not None else "auto"

    def _logged(self, outcome: SwapOutcome) -> SwapOutcome:
        text = (f"{outcome.message} (switch after {outcome.swap_duration_s * 1e3:.0f} ms, "
                f"longest output gap {outcome.max_output_gap_s * 1e3:.0f} ms)")
        if outcome.success:  # rclpy refuses two severities from one call site
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        return outcome

    # ---- parameters, diagnostics, lifecycle guard ---------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate, then apply live changes here: rclpy has already checked types and ranges, and
        this is the node's only callback, so an accepted change is committed (Humble has no post-set)."""
        settings = self._settings
        reason = check_change(params, unconfigured=settings is None)
        if not reason and settings is not None:
            reason = self._apply_live(settings, params)
        return SetParametersResult(successful=not reason, reason=reason)

    def _apply_live(self, settings: NodeSettings, params: list[Parameter]) -> str:
        """Serve with the changed live parameters from the next frame ("" or why not)."""
        updated = live_changes(settings, params)
        self._settings = updated  # first: a swap installing now re-applies these (see _announce)
        if any(p.name in DECODER_PARAMS for p in params):
            perception = self._slot.peek()
            try:
                if perception is not None:
                    retune(perception, updated)
            except EdgeAiError as err:
                self._settings = settings
                return f"{', '.join(p.name for p in params)}: {err}"
            self.get_logger().info("decoder now " + ", ".join(f"{n}={getattr(updated, n)}" for n in DECODER_PARAMS))
        return ""

    def _publish_diagnostics(self) -> None:
        perception = self._slot.peek()
        state = self._state_machine.current_state[1]
        intake = self._intake  # read once: deactivation may clear it meanwhile
        ctx = ServingContext(
            name=self.get_fully_qualified_name(), hardware_id=self.get_name(), state=state,
            model_id=getattr(perception, "model_id", ""),
            backend=perception.engine_info.backend if perception is not None else "",
            image_publishers=intake.publisher_count if intake is not None else -1,
        )
        now, cameras = self._stats.snapshot(), self._cameras
        if cameras is not None:  # frames dropped before the engine are counted per camera
            now = replace(now, dropped=now.dropped + cameras.queue_drops())
        status = serving_status(ctx, now, self._last_snapshot)
        self._last_snapshot = now
        statuses = [status]
        intake = self._intake
        if intake is not None:  # the inputs' QoS choice and loss (ros/input_qos.py)
            statuses.append(intake.status(f"{ctx.name}/inputs", ctx.hardware_id))
        if cameras is not None:  # per camera counts and batch sizes (ros/multi_camera.py)
            statuses.append(cameras.status(f"{ctx.name}/cameras", ctx.hardware_id))
        self._diag_pub.publish(DiagnosticArray(header=_header_now(self), status=statuses))

    def _poll_inputs(self) -> None:
        intake = self._intake
        if intake is not None:
            intake.poll()

    def _autostart(self) -> None:
        if self._autostart_timer is not None:
            self._autostart_timer.cancel()
            self.destroy_timer(self._autostart_timer)
            self._autostart_timer = None
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _guard_change_state(self) -> None:
        """Refuse change_state ids invalid from the current state (rclpy 7.1.6 kills its executor)."""
        service = self._service_change_state
        unguarded = service.callback

        def guarded(req: ChangeState.Request, resp: ChangeState.Response) -> ChangeState.Response:
            if not req.transition.label:
                valid = {t[0] for t in self._state_machine.available_transitions}
                if req.transition.id not in valid:
                    self.get_logger().warning(
                        f"change_state refused: transition id {req.transition.id} is not available from "
                        f"{self._state_machine.current_state[1]} (available: {sorted(valid)})")
                    resp.success = False
                    return resp
            return unguarded(req, resp)

        service.callback = guarded


def _fill(response: Any, outcome: SwapOutcome) -> Any:
    response.success, response.message = outcome.success, outcome.message
    response.previous_model_id, response.new_model_id = outcome.previous_model_id, outcome.new_model_id
    response.swap_duration_s, response.max_output_gap_s = outcome.swap_duration_s, outcome.max_output_gap_s
    return response


def swap_model_type() -> type:
    from edge_ai_ros.srv import SwapModel  # keeps the generated import in one place

    service: type = SwapModel
    return service


def model_info_type() -> type:
    from edge_ai_ros.msg import ModelInfo  # keeps the generated import in one place

    message: type = ModelInfo
    return message


def _header_now(node: LifecycleNode) -> Any:
    from std_msgs.msg import Header

    return Header(stamp=node.get_clock().now().to_msg())


def main(args: Sequence[str] | None = None) -> int:
    """Console entry point: ``inference_node --ros-args ...``."""
    # timers, lifecycle, parameters and two swap requests; frames have their own thread (frame_intake.py)
    return spin_node(InferenceNode, args, threads=5,
                     before_destroy=lambda node: node.release_resources())  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(main())
