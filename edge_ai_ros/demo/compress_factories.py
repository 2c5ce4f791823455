"""The demo detector's model, data and loss factories, as a compression recipe names them.

``config/compress_demo.yaml`` points at these (``edge_ai_ros.demo.compress_factories:build_detector``
and so on): compression itself knows nothing about the demo. Training batches are freshly
generated scenes (split "train", no scene repeats); evaluation batches are the held-out split
"eval", unflipped. Targets: [N, K, 5] rows of (class id, x1, y1, x2, y2) in input pixels,
padded with class id -1, what ``compression.detection_task.DetectionTask`` reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader

from edge_ai_ros.demo.dataset import SceneDataset, collate
from edge_ai_ros.demo.loss import detection_loss
from edge_ai_ros.models.detector import Detector, DetectorConfig

ENDLESS = 10**9  # scenes are generated on demand: a training stream never runs out


def build_detector(width: float = 1.0) -> Detector:
    """The demo detector architecture with every width scaled by ``width``."""
    return Detector(DetectorConfig.scaled(width))


def _set_threads(_worker: int) -> None:
    torch.set_num_threads(1)


def train_batches(*, seed: int, batch_size: int = 16, workers: int = 1) -> DataLoader[Any]:
    """Endless batches of training scenes for ``seed``; ``workers`` processes generate them."""
    dataset = SceneDataset(length=ENDLESS, seed=seed, split="train")
    extra: dict[str, Any] = {"worker_init_fn": _set_threads, "prefetch_factor": 4} if workers else {}
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate, **extra)


def eval_batches(*, num_images: int = 300, seed: int = 0, batch_size: int = 16) -> DataLoader[Any]:
    """The first ``num_images`` held-out scenes (split "eval") of ``seed``, unflipped."""
    dataset = SceneDataset(length=num_images, seed=seed, split="eval", flip=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate)


def detection_loss_fn() -> Callable[..., Any]:
    """The demo detector's loss: takes ``Detector.forward_raw`` outputs and padded targets."""
    return detection_loss
