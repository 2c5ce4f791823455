"""A ResNet-18-sized image classifier defined in the project (11.7 M parameters at 1000 classes).

The benchmark needs a second, larger model than the demo detector, with the layer mix
real classifiers have (strided 3x3 convolutions, residual adds, batch norm, global pool,
one fully connected layer), without downloading weights: it is built here and seeded, so
every run benchmarks the same network. Its accuracy is measured against its own FP32
outputs (top-1 agreement), which needs no trained weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edge_ai_ros.atomic_io import atomic_output_path


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + self.shortcut(x))
        return result


class ResNet18Classifier(nn.Module):
    """ResNet-18 layout: stem, four stages of two BasicBlocks (64-128-256-512), pool, fc."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
        )
        widths, layers, in_ch = (64, 128, 256, 512), [], 64
        for i, width in enumerate(widths):
            layers += [BasicBlock(in_ch, width, 1 if i == 0 else 2), BasicBlock(width, width, 1)]
            in_ch = width
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))
        return logits


def build_classifier(num_classes: int = 1000, seed: int = 0) -> ResNet18Classifier:
    """A seeded, eval-mode classifier; batch-norm statistics are randomised so they are not identity."""
    torch.manual_seed(seed)
    model = ResNet18Classifier(num_classes)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None and module.running_var is not None:
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def export_classifier_onnx(path: str | Path, model: nn.Module, size: int = 224, opset: int = 17) -> Path:
    """Export with a dynamic batch dimension (input ``images``, output ``logits``), atomically."""
    dummy = torch.zeros(1, 3, size, size)
    with atomic_output_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            model, (dummy,), str(tmp), input_names=["images"], output_names=["logits"], opset_version=opset,
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
        )
    return Path(path)
