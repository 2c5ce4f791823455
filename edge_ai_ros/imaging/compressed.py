"""sensor_msgs/CompressedImage fields (jpeg, png) -> RGB uint8 array, via Pillow.

The ``format`` strings are the ones ROS publishers write: "jpeg", "png", or
image_transport's "<encoding>; jpeg compressed <encoding>". The codec is read from it and
the bytes are decoded with that codec only. The pixel count is checked from the header
before any pixel is decoded, so a small file that expands to a huge image (a
decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from edge_ai_ros.errors import InvalidInputError
from edge_ai_ros.imaging.raw import DEFAULT_MAX_PIXELS

#: format keyword -> Pillow format name.
CODECS: dict[str, str] = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG"}


def codec_of(format: str) -> str:  # noqa: A002 - the ROS field is called format
    """Pillow format name for a CompressedImage ``format`` string."""
    lowered = format.lower()
    if "compresseddepth" not in lowered:
        words = lowered.replace(";", " ").split()
        for word in words:
            if word in CODECS:
                return CODECS[word]
    raise InvalidInputError(
        "format", f"{format!r} names no supported codec",
        fix="publish jpeg or png (format 'jpeg', 'png' or 'bgr8; jpeg compressed bgr8')",
    )


def decode_compressed(
    *,
    format: str,  # noqa: A002 - the ROS field is called format
    data: bytes | bytearray | memoryview,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode jpeg/png bytes to RGB uint8 HxWx3; corrupt or oversized data raises InvalidInputError."""
    codec = codec_of(format)
    if len(data) == 0:
        raise InvalidInputError("data", "is empty", fix="send the compressed image bytes")
    try:
        with Image.open(io.BytesIO(data), formats=[codec]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidInputError(
                    "data", f"decodes to {width}x{height} = {width * height} pixels, above the limit "
                    f"of {max_pixels}", fix="downscale the image at the camera driver or raise max_pixels",
                )
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            rgb.load()
            return np.asarray(rgb)
    except InvalidInputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InvalidInputError(
            "data", f"is not a valid {codec.lower()} image ({type(err).__name__}: {err})",
            fix="check the camera's compression settings; the frame was skipped",
        ) from err


def encode_compressed(rgb: np.ndarray, format: str = "jpeg", *, quality: int = 90) -> bytes:  # noqa: A002
    """RGB uint8 HxWx3 -> jpeg/png bytes (for tests and bag writing)."""
    codec = codec_of(format)
    buffer = io.BytesIO()
    options = {"quality": quality} if codec == "JPEG" else {}
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format=codec, **options)
    return buffer.getvalue()
