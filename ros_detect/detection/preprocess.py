"""BGR frames -> the model input a backend takes (its `input_kind`), one way for inference and calibration.

torch and OpenCV are imported when a frame is converted, not when this module is imported.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

# "tensor": 3xHxW float torch tensor, RGB in [0, 1] (eager PyTorch backends)
# "array": the same values as a 3xHxW float32 numpy array (exported runtimes: no torch on their hot path)
InputKind = Literal["tensor", "array"]


def bgr_to_tensor(frame: np.ndarray) -> Any:
    """HxWx3 uint8 BGR -> 3xHxW float RGB in [0, 1]; one copy for the channel flip, one for the cast."""
    import torch

    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)


def bgr_to_array(frame: np.ndarray) -> np.ndarray:
    """bgr_to_tensor's values as a numpy 3xHxW float32 array, in one OpenCV call and without torch.

    For the exported runtimes: torch's OpenMP threads then never wake beside OpenVINO's/ONNX Runtime's own
    (seen as preprocessing stalls of up to 1.7 s in the node graph on two cores).
    """
    import cv2

    return cv2.dnn.blobFromImage(frame, scalefactor=1.0 / 255.0, swapRB=True)[0]


def to_model_input(frame: np.ndarray, kind: InputKind) -> Any:
    """One BGR frame as the input of a backend whose `input_kind` is `kind`."""
    if kind == "array":
        return bgr_to_array(frame)
    if kind == "tensor":
        return bgr_to_tensor(frame)
    raise ValueError(f"unknown backend input kind {kind!r}")
