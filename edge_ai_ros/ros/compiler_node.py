"""``compiler_node``: the compiler as a ROS 2 action (edge_ai_ros/action/CompileEngine).

A fleet tool or an operator asks a running vehicle to build the engine for its own
hardware. Feedback carries the build's stage and progress; cancel stops the build at the
next stage boundary and leaves nothing behind; one build runs at a time and a goal that
arrives meanwhile is accepted and immediately aborted with a message that says which
build is running (a rejected goal could not carry a reason to the client).
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse, ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.node import Node

from edge_ai_ros.action import CompileEngine
from edge_ai_ros.compiler.accuracy_gate import DEFAULT_MAX_DROP
from edge_ai_ros.compiler.build import BuildOptions, BuildResult, CompileCancelled, build_engine
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.ros.node_main import spin_node

AUTO_KEEP_COUNT = 2  # layers kept FP32 when a goal sets auto_keep_sensitive


def options_from_goal(goal: CompileEngine.Goal, cache_dir: str) -> BuildOptions:
    """Goal fields -> BuildOptions (empty/zero fields take the package defaults)."""
    calibration = None
    if goal.calibration_source:
        calibration = CalibrationConfig(
            source=goal.calibration_source, topic=goal.calibration_topic,
            method=goal.calibration_method or "minmax", percentile=goal.percentile or 99.999,
            max_samples=goal.max_calibration_samples or 64,
        )
    return BuildOptions(
        onnx_path=goal.onnx_path, precision=goal.precision or "int8", backend=goal.backend or "auto",
        calibration=calibration, max_drop=goal.max_drop or DEFAULT_MAX_DROP, keep_layers=tuple(goal.keep_layers),
        auto_keep=AUTO_KEEP_COUNT if goal.auto_keep_sensitive else 0, cache_dir=cache_dir, out_dir=goal.output_dir,
    )


def result_from_build(build: BuildResult) -> CompileEngine.Result:
    result = CompileEngine.Result(success=True, engine_path=str(build.engine_path),
                                  manifest_path=str(build.manifest_path), cache_hit=build.cache_hit)
    accuracy = build.manifest.accuracy or {}
    result.message = "cache hit" if build.cache_hit else "built"
    result.map50 = float(accuracy["candidate"]) / 100 if accuracy.get("metric") == "map50" else math.nan
    result.top1_agreement = (float(accuracy["candidate"]) / 100 if accuracy.get("metric") == "top1_agreement"
                             else math.nan)
    result.relative_error = float(accuracy.get("relative_error", math.nan))
    return result


def failure(message: str) -> CompileEngine.Result:
    return CompileEngine.Result(success=False, message=message, map50=math.nan, top1_agreement=math.nan,
                                relative_error=math.nan)


class CompilerNode(Node):
    """Serves ``compile_engine``; builds run in the action's execute callback, one at a time."""

    def __init__(self, *, context: Context | None = None) -> None:
        super().__init__("compiler_node", context=context)
        self.declare_parameter("cache_dir", ".cache/engines", ParameterDescriptor(
            description="content-addressed engine cache; built engines and manifests go here"))
        self._busy = threading.Lock()
        self._running = ""
        self._server = ActionServer(
            self, CompileEngine, "compile_engine", execute_callback=self._execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT, cancel_callback=lambda handle: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    def _execute(self, handle: ServerGoalHandle) -> CompileEngine.Result:
        if not self._busy.acquire(blocking=False):
            handle.abort()
            return failure(f"refused: one build at a time and {self._running} is running; send the goal again later")
        try:
            self._running = f"{handle.request.onnx_path} ({handle.request.precision or 'int8'})"
            return self._build(handle)
        finally:
            self._running = ""
            self._busy.release()

    def _build(self, handle: ServerGoalHandle) -> CompileEngine.Result:
        def progress(stage: str, fraction: float, detail: str) -> None:
            handle.publish_feedback(CompileEngine.Feedback(stage=stage, progress=float(fraction), detail=detail))

        cache_dir = str(self.get_parameter("cache_dir").value)
        try:
            build = build_engine(options_from_goal(handle.request, cache_dir), progress=progress,
                                 cancelled=lambda: handle.is_cancel_requested)
        except CompileCancelled as err:
            handle.canceled()
            return failure(str(err))
        except EdgeAiError as err:
            self.get_logger().error(f"build failed: {err}")
            handle.abort()
            return failure(str(err))
        handle.succeed()
        self.get_logger().info(f"{'cache hit' if build.cache_hit else 'built'}: {build.engine_path}")
        return result_from_build(build)


def main(argv: Sequence[str] | None = None) -> int:
    # Three threads: the goal, cancel and feedback callbacks must run while a build is in progress.
    return spin_node(CompilerNode, argv, threads=3)

if __name__ == "__main__":
    sys.exit(main())
