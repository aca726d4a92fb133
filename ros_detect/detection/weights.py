"""Resolving the `weights` option: auto | DEFAULT | none | /path/to/checkpoint.pth.

Offline machines must not hang on a download: reachability is probed with a short TCP connect
before torchvision is asked to fetch anything.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ros_detect.errors import WeightsError

log = logging.getLogger(__name__)

RANDOM_INIT_LABEL = "random-init (NOT A REAL RESULT)"
UNTRAINED_BANNER = "UNTRAINED WEIGHTS - NOT A REAL RESULT"
WEIGHT_MODES = ("auto", "DEFAULT", "none")


@dataclass(frozen=True)
class ResolvedWeights:
    """What to load: torchvision weights enum, a checkpoint file, or nothing (random init)."""

    kind: str  # "pretrained" | "checkpoint" | "random"
    enum: Any = None
    path: Path | None = None

    @property
    def label(self) -> str:
        if self.kind == "pretrained":
            return f"pretrained ({self.enum.name})"
        if self.kind == "checkpoint":
            return f"checkpoint:{self.path.name}"
        return RANDOM_INIT_LABEL

    @property
    def trained(self) -> bool:
        return self.kind != "random"


def hub_checkpoint_path(weights_enum: Any) -> Path:
    """Where torchvision caches a pretrained file (torch hub dir / checkpoints / file name)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights_enum.url).path)


def url_reachable(url: str, timeout_s: float = 3.0) -> bool:
    """True when a TCP connection to the URL's host opens within `timeout_s` (no data sent)."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_weights(option: str, weights_enum_cls: Any) -> ResolvedWeights:
    """Turn the user's `weights` option into what to load, failing fast and clearly."""
    option = (option or "auto").strip()
    if option.lower() == "none":
        return ResolvedWeights("random")
    if option.upper() == "DEFAULT" or option.lower() == "auto":
        enum = weights_enum_cls.DEFAULT
        cached = hub_checkpoint_path(enum)
        if cached.is_file() or url_reachable(enum.url):
            return ResolvedWeights("pretrained", enum=enum)
        if option.lower() == "auto":
            log.warning(
                "No pretrained weights cached at %s and %s is unreachable: using RANDOM-INITIALISED "
                "weights. Results are NOT real detections. Pass --weights /path/to/file.pth for real ones.",
                cached,
                urlparse(enum.url).hostname,
            )
            return ResolvedWeights("random")
        raise WeightsError(
            f"pretrained weights {enum.name} are not cached at {cached} and {enum.url} cannot be reached",
            f"download that file on a connected machine and pass --weights /path/to/{cached.name} "
            f"(or copy it to {cached})",
        )
    path = Path(option).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} does not exist",
            "pass an existing .pth checkpoint, or --weights auto|DEFAULT|none",
        )
    if not os.access(path, os.R_OK):
        raise WeightsError(f"weights file {path} is not readable", "fix its permissions")
    return ResolvedWeights("checkpoint", path=path)


def load_state_dict(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely (weights_only) and unwrap common container layouts."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read weights file {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            "pass a PyTorch state_dict saved with torch.save(model.state_dict(), path)",
        ) from exc
    if isinstance(data, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if key in data and isinstance(data[key], dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(hasattr(v, "shape") for v in data.values()):
        raise WeightsError(
            f"weights file {path} holds no state_dict", "save one with torch.save(model.state_dict(), path)"
        )
    return data
