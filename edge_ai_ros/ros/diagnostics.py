"""The inference node's /diagnostics status, built from a ServingStats snapshot.

Level: OK while serving normally; WARN when, within the last period, at least
``REJECT_WARN_FRACTION`` of incoming frames were rejected or ``DROP_WARN_FRACTION`` dropped
(the node cannot keep up, or a camera is sending garbage); WARN too when not active, so an
operator sees a node that is up but not serving. ``image_publishers`` counts the camera
publishers DDS has matched to the node's image subscription: a node is ready to answer when it
is active AND that count is above 0 (endpoint discovery can take a moment after activation).
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from edge_ai_ros.host import diagnostic_values
from edge_ai_ros.serving.serving_stats import StatsSnapshot

REJECT_WARN_FRACTION = 0.1
DROP_WARN_FRACTION = 0.5


@dataclass(frozen=True, kw_only=True)
class ServingContext:
    """What the stats do not know: identity and state of the node."""

    name: str
    hardware_id: str
    state: str
    model_id: str
    backend: str
    image_publishers: int = -1  # matched image publishers; -1 = not taking frames (not active)


def serving_status(ctx: ServingContext, now: StatsSnapshot, before: StatsSnapshot) -> DiagnosticStatus:
    level, message = _level(ctx.state, now, before)
    values = [
        ("state", ctx.state), ("model_id", ctx.model_id), ("backend", ctx.backend),
        ("frames_in", now.frames_in), ("frames_out", now.frames_out),
        ("frames_dropped", now.dropped), ("frames_rejected", now.rejected),
        ("last_rejection", now.last_rejection), ("image_publishers", ctx.image_publishers),
    ]
    for stage, summary in sorted(now.percentiles_ms.items()):
        values += [(f"{stage}_ms_p50", f"{summary.p50:.2f}"), (f"{stage}_ms_p99", f"{summary.p99:.2f}")]
    values += diagnostic_values()  # the CPU the engine runs on: flags, capabilities, cores, quota
    return DiagnosticStatus(
        level=level, name=ctx.name, message=message, hardware_id=ctx.hardware_id,
        values=[KeyValue(key=key, value=str(value)) for key, value in values],
    )


def _level(state: str, now: StatsSnapshot, before: StatsSnapshot) -> tuple[bytes, str]:
    if state != "active":
        return DiagnosticStatus.WARN, f"not serving ({state})"
    frames_in, _, dropped, rejected = now.minus(before)
    if frames_in and rejected / frames_in >= REJECT_WARN_FRACTION:
        return DiagnosticStatus.WARN, f"rejecting input: {rejected}/{frames_in} frames ({now.last_rejection})"
    if frames_in and dropped / frames_in >= DROP_WARN_FRACTION:
        return DiagnosticStatus.WARN, f"dropping frames: {dropped}/{frames_in} (processing slower than input)"
    return DiagnosticStatus.OK, "serving"
