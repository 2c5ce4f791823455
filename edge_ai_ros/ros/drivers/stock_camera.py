"""A stand-in for a stock camera driver: plain rclpy, its own process, settings chosen on the command line.

Real camera drivers (usb_cam, v4l2_camera, vendor SDK nodes) are started by someone else's
launch file and load no profile of ours. This process behaves like one: it sets its own
environment before ``rclpy.init`` (``--profile none`` clears the Fast DDS profile variables,
so Fast DDS runs on its defaults), publishes raw ``sensor_msgs/Image`` (rgb8) or JPEG
``sensor_msgs/CompressedImage`` with the reliability asked for, and can switch reliability
mid-run (recreating its publisher, as a restarted driver would).

Header stamps are CLOCK_REALTIME nanoseconds, unique per frame, so a receiver on this host
matches answers to frames and measures end to end. At exit it prints one JSON line with the
stamps it sent (``{"sent": [...], "matched_at": ...}``) for the benchmark and the tests.

Run: ``python -m edge_ai_ros.ros.drivers.stock_camera --topic /cam/image --size 640x480 --hz 30 --frames 90``
"""

from __future__ import annotations

import argparse
import array
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_ai_ros.errors import ConfigError

if TYPE_CHECKING:
    from rclpy.qos import QoSProfile

PROFILE_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
SIZES = {"640x480": (640, 480), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}
RELIABILITIES = ("reliable", "best_effort")


@dataclass(frozen=True, kw_only=True)
class CameraSettings:
    topic: str
    size: str = "640x480"
    hz: float = 30.0
    frames: int = 90
    reliability: str = "reliable"  # rclpy's default for create_publisher(..., 10)
    compressed: bool = False
    profile: str = "none"  # none | a Fast DDS XML path
    switch_after: int = 0  # > 0: after this many frames recreate the publisher with switch_to
    switch_to: str = "best_effort"
    match_timeout_s: float = 30.0
    depth: int = 10

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ConfigError("size", f"{self.size!r} is not one of {sorted(SIZES)}", fix=f"use one of {sorted(SIZES)}")
        for name in ("reliability", "switch_to"):
            if getattr(self, name) not in RELIABILITIES:
                raise ConfigError(name, f"{getattr(self, name)!r} is not one of {RELIABILITIES}",
                                  fix=f"use one of {RELIABILITIES}")


def camera_args(settings: CameraSettings) -> list[str]:
    """Command line that runs ``settings`` in a child process (``python -m`` this module)."""
    args = [sys.executable, "-m", __name__, "--topic", settings.topic, "--size", settings.size,
            "--hz", str(settings.hz), "--frames", str(settings.frames), "--reliability", settings.reliability,
            "--profile", settings.profile, "--switch-after", str(settings.switch_after),
            "--switch-to", settings.switch_to, "--match-timeout", str(settings.match_timeout_s),
            "--depth", str(settings.depth)]
    return args + (["--compressed"] if settings.compressed else [])


def set_profile_env(profile: str) -> None:
    """Before rclpy.init: no profile (Fast DDS defaults) or the given XML for both variable names."""
    for var in PROFILE_VARS:
        if profile == "none":
            os.environ.pop(var, None)
        else:
            os.environ[var] = profile


def frame_payload(settings: CameraSettings) -> tuple[int, int, bytes]:
    """A textured test frame (raw rgb8 bytes or JPEG bytes): noise would not compress like a camera image."""
    import numpy as np

    width, height = SIZES[settings.size]
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // width), (y * 255 // height), ((x // 40 + y // 40) % 2) * 200], axis=-1)
    rgb = rgb.astype(np.uint8)
    if not settings.compressed:
        return width, height, rgb.tobytes()
    from edge_ai_ros.imaging.compressed import encode_compressed

    return width, height, encode_compressed(rgb, "jpeg", quality=90)


def _qos(reliability: str, depth: int) -> QoSProfile:
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(depth=depth, reliability=policy)


def run_camera(settings: CameraSettings) -> dict[str, object]:
    set_profile_env(settings.profile)
    import rclpy  # after the environment is set
    from sensor_msgs.msg import CompressedImage, Image

    rclpy.init(args=[])
    node = rclpy.create_node("stock_camera")
    width, height, payload = frame_payload(settings)
    msg_type = CompressedImage if settings.compressed else Image
    topic = settings.topic + ("/compressed" if settings.compressed else "")
    msg = msg_type(format="jpeg", data=array.array("B", payload)) if settings.compressed else Image(
        width=width, height=height, encoding="rgb8", step=width * 3, data=array.array("B", payload))
    msg.header.frame_id = "stock_camera"
    pub = node.create_publisher(msg_type, topic, _qos(settings.reliability, settings.depth))
    sent: list[int] = []
    try:
        matched = _wait_matched(pub, settings.match_timeout_s)
        start = time.perf_counter()
        for i in range(settings.frames):
            if settings.switch_after and i == settings.switch_after:
                node.destroy_publisher(pub)
                pub = node.create_publisher(msg_type, topic, _qos(settings.switch_to, settings.depth))
                _wait_matched(pub, settings.match_timeout_s)
                start = time.perf_counter() - i / settings.hz
            delay = start + i / settings.hz - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the camera's frame rate
            stamp = time.time_ns() // 1000 * 1000 + i % 1000
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            pub.publish(msg)
            sent.append(stamp)
        time.sleep(0.5)  # let a reliable writer repair its last samples before the participant goes
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return {"sent": sent, "matched": matched, "topic": topic, "bytes": len(payload)}


def _wait_matched(pub: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pub.get_subscription_count() > 0:  # type: ignore[attr-defined]
            time.sleep(0.3)  # discovery of the reader's locators settles after the match
            return True
        time.sleep(0.05)
    return False


def parse(argv: Sequence[str]) -> CameraSettings:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--topic", required=True)
    p.add_argument("--size", default="640x480", choices=sorted(SIZES))
    p.add_argument("--hz", type=float, default=30.0)
    p.add_argument("--frames", type=int, default=90)
    p.add_argument("--reliability", default="reliable", choices=RELIABILITIES)
    p.add_argument("--compressed", action="store_true")
    p.add_argument("--profile", default="none", help="none (Fast DDS defaults) or a profile XML path")
    p.add_argument("--switch-after", type=int, default=0)
    p.add_argument("--switch-to", default="best_effort", choices=RELIABILITIES)
    p.add_argument("--match-timeout", type=float, default=30.0)
    p.add_argument("--depth", type=int, default=10)
    a = p.parse_args(list(argv))
    return CameraSettings(topic=a.topic, size=a.size, hz=a.hz, frames=a.frames, reliability=a.reliability,
                          compressed=a.compressed, profile=a.profile, switch_after=a.switch_after,
                          switch_to=a.switch_to, match_timeout_s=a.match_timeout, depth=a.depth)


def main(argv: Sequence[str] | None = None) -> int:
    report = run_camera(parse(sys.argv[1:] if argv is None else argv))
    print(json.dumps(report), flush=True)
    return 0 if report["matched"] else 1


if __name__ == "__main__":
    sys.exit(main())
