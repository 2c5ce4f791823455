"""A user's own model, data and broken variants of them, as a recipe would name them
(``compress_user_objects:build_toy``): nothing here comes from the package's demo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from edge_ai_ros.compression.classification_task import ClassificationTask


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class ToyNet(nn.Module):
    """Residual add, a two-branch concat, a depthwise and a grouped conv, a linear head."""

    def __init__(self, classes: int = 4, width: int = 16) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, width, 3, 2)
        self.res = nn.Sequential(conv_bn_relu(width, width), nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        self.branch_a = conv_bn_relu(width, width, 1)
        self.branch_b = conv_bn_relu(width, width, 3)
        self.depthwise = conv_bn_relu(2 * width, 2 * width, 3, 2, groups=2 * width)
        self.grouped = conv_bn_relu(2 * width, 2 * width, 3, 1, groups=4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(x + self.res(x))
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        out: torch.Tensor = self.head(torch.flatten(self.pool(self.grouped(self.depthwise(x))), 1))
        return out


class SlicingNet(nn.Module):
    """Takes the first 24 of 32 channels by number: pruning ``first`` breaks it."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 32, 3, 1, 1)
        self.act = nn.ReLU()
        self.second = nn.Conv2d(24, 8, 3, 1, 1)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.first(x))[:, :24]
        out: torch.Tensor = self.head(self.second(y).mean(dim=(2, 3)))
        return out


def build_toy(classes: int = 4, width: int = 16) -> ToyNet:
    torch.manual_seed(0)
    return ToyNet(classes, width)


def build_slicing() -> SlicingNet:
    torch.manual_seed(0)
    return SlicingNet()


def not_a_model() -> str:
    return "a string"


def toy_batches(*, seed: int = 0, batches: int = 6, batch_size: int = 8, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Class = the brightest quadrant of the image: learnable in a few dozen steps."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batches):
        images = torch.rand(batch_size, 3, size, size, generator=gen) * 0.5
        labels = torch.randint(0, 4, (batch_size,), generator=gen)
        half = size // 2
        for i, label in enumerate(labels.tolist()):
            row, col = divmod(label, 2)
            images[i, :, row * half : (row + 1) * half, col * half : (col + 1) * half] += 0.5
        out.append((images, labels))
    return out


class InterruptedBatches:
    """Training data whose user presses Ctrl-C at the third batch (every pass)."""

    def __init__(self, seed: int = 0) -> None:
        self.batches = toy_batches(seed=seed)

    def __iter__(self):  # type: ignore[no-untyped-def]
        for index, batch in enumerate(self.batches):
            if index == 2:
                raise KeyboardInterrupt
            yield batch


def interrupted_batches(*, seed: int = 0) -> InterruptedBatches:
    return InterruptedBatches(seed)


class RegressionTask(ClassificationTask):
    """A user's adapter (named as compress_user_objects:RegressionTask) whose loss wants float targets
    of the output's shape: with class-index targets it fails, and the check says so."""

    def loss(self, outputs: object, targets: object) -> torch.Tensor:
        return (outputs - targets.reshape(outputs.shape)).pow(2).mean()  # type: ignore[attr-defined,operator]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny models train faster on one thread than on two contended ones; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
