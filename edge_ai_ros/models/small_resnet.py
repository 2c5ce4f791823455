"""A small ResNet-style image classifier: the second worked example of compression.

Stem (3x3 conv, stride 2), residual basic blocks (two 3x3 convs; the stride-2 blocks have a
1x1 stride-2 projection shortcut), a depthwise-separable block (3x3 depthwise + 1x1 pointwise,
residual), global average pool, one linear head. Plain Conv-BN-ReLU everywhere, so every backend
exports, quantizes and prunes it. Logits out ([N, num_classes]); no softmax in the graph.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_ai_ros.errors import ConfigError


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN with a residual add; a 1x1 stride-s projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride)
        self.act1 = nn.ReLU()
        self.conv2 = conv_bn(c_out, c_out, 3)
        self.shortcut: nn.Module = nn.Identity() if stride == 1 and c_in == c_out else conv_bn(c_in, c_out, 1, stride)
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act2(self.conv2(self.act1(self.conv1(x))) + self.shortcut(x))
        return out


class DepthwiseBlock(nn.Module):
    """3x3 depthwise conv-BN-ReLU, 1x1 pointwise conv-BN, residual add, ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = conv_bn(channels, channels, 3, groups=channels)
        self.act1 = nn.ReLU()
        self.pointwise = conv_bn(channels, channels, 1)
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act2(self.pointwise(self.act1(self.depthwise(x))) + x)
        return out


class SmallResNet(nn.Module):
    """stem -> [block(w), block(2w, /2), block(4w, /2), depthwise(4w)] -> pool -> linear."""

    def __init__(self, num_classes: int = 6, width: int = 16) -> None:
        super().__init__()
        if num_classes < 2 or width < 4:
            raise ConfigError("model.kwargs", f"num_classes >= 2 and width >= 4, got {num_classes}, {width}",
                              fix="use e.g. num_classes 6, width 16")
        self.stem = nn.Sequential(conv_bn(3, width, 3, 2), nn.ReLU())
        self.blocks = nn.Sequential(
            BasicBlock(width, width), BasicBlock(width, 2 * width, 2), BasicBlock(2 * width, 4 * width, 2),
            DepthwiseBlock(4 * width),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))
        return logits


def build_small_resnet(num_classes: int = 6, width: int = 16) -> SmallResNet:
    return SmallResNet(num_classes=num_classes, width=width)
