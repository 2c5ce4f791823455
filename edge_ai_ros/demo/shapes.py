"""Generated shape images for a classification task: which shape is in the picture?

Each image is one shape (circle, square, triangle, cross, ring, bar) of random size, position,
rotation-free orientation and colour on a random two-colour gradient with pixel noise; the
colour says nothing about the class. Image ``index`` of a split and seed is always the same
image (nothing stored, nothing downloaded); splits "train" and "eval" are disjoint streams.
The factories at the bottom are what ``config/compress_classifier.yaml`` names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

SHAPES = ("circle", "square", "triangle", "cross", "ring", "bar")
SPLITS = {"train": 1, "eval": 2}
SIZE = 64
ENDLESS = 10**9


def _mask(shape: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    radius = rng.uniform(10.0, 22.0)
    cx, cy = rng.uniform(radius, SIZE - radius, size=2)
    dx, dy = xx - cx, yy - cy
    name = SHAPES[shape]
    if name == "circle":
        return np.asarray(dx**2 + dy**2 <= radius**2)
    if name == "square":
        return np.asarray((np.abs(dx) <= radius * 0.8) & (np.abs(dy) <= radius * 0.8))
    if name == "triangle":
        return np.asarray((dy <= radius * 0.7) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6))
    if name == "cross":
        arm = radius * 0.3
        return np.asarray(((np.abs(dx) <= arm) | (np.abs(dy) <= arm)) & (np.abs(dx) <= radius) & (np.abs(dy) <= radius))
    if name == "ring":
        dist = np.sqrt(dx**2 + dy**2)
        return np.asarray((dist <= radius) & (dist >= radius * 0.6))
    horizontal = rng.random() < 0.5
    long_, short = (np.abs(dx), np.abs(dy)) if horizontal else (np.abs(dy), np.abs(dx))
    return np.asarray((long_ <= radius) & (short <= radius * 0.25))


def shape_image(split: str, seed: int, index: int) -> tuple[np.ndarray, int]:
    """(RGB uint8 image [64, 64, 3], class id) of image ``index``."""
    rng = np.random.default_rng([SPLITS[split], seed, index])
    label = int(rng.integers(len(SHAPES)))
    ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[None, :, None]
    a, b = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    image = a + (b - a) * (ramp if rng.random() < 0.5 else ramp.transpose(1, 0, 2))
    colour = rng.uniform(0, 255, size=3).astype(np.float32)
    mask = _mask(label, rng)[..., None]
    image = np.where(mask, colour, image) + rng.normal(0.0, 12.0, size=(SIZE, SIZE, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), label


class ShapesDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """(input [3, 64, 64] float in [0, 1], class id) of image ``index``; odd indices mirrored in training."""

    def __init__(self, *, length: int, seed: int, split: str = "train") -> None:
        self.length, self.seed, self.split = length, seed, split

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = shape_image(self.split, self.seed, index)
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), np.float32) / 255.0)
        return tensor, torch.tensor(label)


def train_batches(*, seed: int, batch_size: int = 32) -> DataLoader[Any]:
    """Endless training batches for ``seed`` (each step new images)."""
    return DataLoader(ShapesDataset(length=ENDLESS, seed=seed), batch_size=batch_size, shuffle=False)


def eval_batches(*, num_images: int = 1000, seed: int = 0, batch_size: int = 100) -> DataLoader[Any]:
    """The first ``num_images`` held-out images (split "eval")."""
    return DataLoader(ShapesDataset(length=num_images, seed=seed, split="eval"), batch_size=batch_size, shuffle=False)
