"""sensor_msgs/Image fields -> RGB uint8 array, with cv_bridge-compatible semantics.

Works on the message's fields, not the message, so it runs (and is tested) without rclpy.
Every way a frame can be unusable raises InvalidInputError naming the field, so the node
can log it, count it and serve the next frame. Decoding is a view of the message buffer
wherever the encoding allows (rgb8, padded rows); the result may be read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_ai_ros.errors import InvalidInputError

#: Channels per pixel of each supported encoding (all 8-bit, so endianness does not matter).
ENCODING_CHANNELS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODING_CHANNELS)
#: Frames above this many pixels are refused before any allocation (a "huge frame" guard).
# A 4K UHD camera frame (3840x2160): the largest a vehicle camera sends, not the worst case a codec
# allows. Checked from the header before any pixel is decoded (raw: width*height; jpeg/png: the
# lazy header of Pillow), so a frame above it allocates nothing.
DEFAULT_MAX_PIXELS = 3840 * 2160


@dataclass(frozen=True, kw_only=True)
class RawImage:
    """The fields of a sensor_msgs/Image, as encode_raw makes them (for tests and bag writing)."""

    encoding: str
    width: int
    height: int
    step: int
    is_bigendian: int
    data: bytes

    def fields(self) -> dict[str, object]:
        """Keyword arguments for decode_raw (and for the ROS message constructor)."""
        return {
            "encoding": self.encoding, "width": self.width, "height": self.height,
            "step": self.step, "is_bigendian": self.is_bigendian, "data": self.data,
        }


def _check_geometry(encoding: str, width: int, height: int, max_pixels: int) -> int:
    channels = ENCODING_CHANNELS.get(encoding)
    if channels is None:
        raise InvalidInputError(
            "encoding", f"{encoding!r} is not supported",
            fix=f"publish one of {', '.join(SUPPORTED_ENCODINGS)} (or a CompressedImage)",
        )
    for name, value in (("width", width), ("height", height)):
        if value <= 0:
            raise InvalidInputError(name, f"is {value}", fix="send a non-empty image")
    if width * height > max_pixels:
        raise InvalidInputError(
            "width", f"{width}x{height} = {width * height} pixels is above the limit of {max_pixels}",
            fix="downscale the image at the camera driver or raise max_pixels",
        )
    return channels


def decode_raw(
    *,
    encoding: str,
    width: int,
    height: int,
    step: int,
    is_bigendian: int | bool,
    data: bytes | bytearray | memoryview,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Return the image as RGB uint8 HxWx3 (a view of ``data`` where possible, maybe read-only).

    ``is_bigendian`` is accepted for completeness: every supported encoding is 8-bit.
    """
    del is_bigendian  # 8-bit samples have no byte order
    channels = _check_geometry(encoding, width, height, max_pixels)
    row_bytes = width * channels
    if step < row_bytes:
        raise InvalidInputError(
            "step", f"{step} is smaller than width*channels = {width}*{channels} = {row_bytes}",
            fix="set step to the number of bytes per row (at least width*channels)",
        )
    if len(data) != step * height:
        raise InvalidInputError(
            "data", f"has {len(data)} bytes, expected step*height = {step}*{height} = {step * height}",
            fix="send exactly step*height bytes of pixel data",
        )
    rows = np.frombuffer(data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, :row_bytes].reshape(height, width, channels)
    if encoding in ("rgb8", "rgba8"):
        return pixels[:, :, :3]
    if encoding in ("bgr8", "bgra8"):
        return pixels[:, :, 2::-1]
    return np.broadcast_to(pixels, (height, width, 3))  # mono8, zero-copy


def encode_raw(rgb: np.ndarray, encoding: str, *, row_padding: int = 0) -> RawImage:
    """RGB uint8 HxWx3 -> sensor_msgs/Image fields in ``encoding`` (rows padded if asked)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidInputError("image", f"expected HxWx3 uint8, got {rgb.shape} {rgb.dtype}",
                                fix="pass an RGB uint8 array")
    height, width = rgb.shape[:2]
    channels = _check_geometry(encoding, width, height, max_pixels=height * width)
    if encoding == "mono8":
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = np.rint(rgb @ weights).astype(np.uint8)[:, :, None]
    else:
        pixels = rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb
        if channels == 4:
            alpha = np.full((height, width, 1), 255, dtype=np.uint8)
            pixels = np.concatenate([pixels, alpha], axis=2)
    step = width * channels + row_padding
    buffer = np.zeros((height, step), dtype=np.uint8)
    buffer[:, : width * channels] = pixels.reshape(height, width * channels)
    return RawImage(encoding=encoding, width=width, height=height, step=step, is_bigendian=0,
                    data=buffer.tobytes())
