"""sensor_msgs/Image <-> numpy without cv_bridge.

Why not cv_bridge: its Python binding is not in the ROS 2 PyPI wheels, and the PyPI `cv-bridge`
package is built against NumPy 1 and breaks under NumPy 2. Two functions are all we need:

* `image_to_bgr(msg)` is zero-copy: rclpy stores `uint8[]` as `array.array('B')`, which exposes the
  buffer protocol, so `np.frombuffer` views it directly (a copy happens only for rgb8/mono8, which
  need a colour conversion anyway).
* `bgr_to_image(frame, ...)` copies the pixels once, straight from the array's buffer into the
  message's `array.array` (no intermediate `bytes`; assigning an `array.array` skips the field check).
  rclpy copies once more into the DDS sample when publishing; that copy is unavoidable in Python.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ros_detect.errors import InputError
from ros_detect.schema import join_ns, split_ns

_CHANNELS = {"bgr8": 3, "rgb8": 3, "mono8": 1}


def set_stamp(header: Header, stamp_ns: int) -> None:
    """rclpy Header adapter of ros_detect.schema.split_ns."""
    header.stamp.sec, header.stamp.nanosec = split_ns(stamp_ns)


def stamp_ns(header: Header) -> int:
    """rclpy Header adapter of ros_detect.schema.join_ns."""
    return join_ns(header.stamp.sec, header.stamp.nanosec)


def bgr_to_image(frame: np.ndarray, stamp: int, frame_id: str) -> Image:
    """An HxWx3 uint8 BGR array as a bgr8 Image (one copy of the pixels)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 BGR, got {frame.dtype} {frame.shape}")
    frame = np.ascontiguousarray(frame)
    msg = Image()
    set_stamp(msg.header, stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
    msg.encoding = "bgr8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    data = array.array("B")
    data.frombytes(memoryview(frame).cast("B"))
    msg.data = data
    return msg


def image_to_bgr(msg: Image) -> np.ndarray:
    """An Image as an HxWx3 uint8 BGR array; a view of `msg.data` (no copy) for bgr8."""
    channels = _CHANNELS.get(msg.encoding)
    if channels is None:
        raise InputError(
            f"unsupported image encoding {msg.encoding!r}", f"publish one of {', '.join(_CHANNELS)} images"
        )
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    buf = np.frombuffer(msg.data, np.uint8)
    if step < w * channels or buf.size < h * step:
        raise InputError(
            f"image message is inconsistent: {w}x{h} {msg.encoding} step={step} with {buf.size} bytes",
            "fix the publisher's height/width/step fields",
        )
    rows = buf[: h * step].reshape(h, step)[:, : w * channels]
    pixels = rows.reshape(h, w, channels)
    if msg.encoding == "rgb8":
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    if msg.encoding == "mono8":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    return pixels
