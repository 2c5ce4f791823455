"""The demo detector: a small anchor-free, YOLOX-style detector built from plain Conv-BN-ReLU.

Only Conv2d, BatchNorm2d, ReLU, nearest upsampling, add and concat: every backend exports,
quantizes and prunes these. Box decoding happens inside the graph, so the single output
``predictions`` [N, A, 5 + C] = (cx, cy, w, h in input pixels, objectness, class scores,
both sigmoided) is what any YOLO decoder reads. Training uses ``forward_raw`` (logits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edge_ai_ros.errors import ConfigError

STRIDES = (8, 16, 32)
MAX_LOG_SIZE = 8.0  # exp(8) * stride is far beyond any input; clamps the wh logits for safety


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """Channel widths of each stage; ``scaled`` builds teachers (>1) and students (<1)."""

    num_classes: int = 3
    stem: int = 12
    stages: tuple[int, int, int, int] = (24, 48, 96, 128)  # strides 4, 8, 16, 32
    blocks: tuple[int, int, int, int] = (0, 1, 1, 1)  # residual blocks per stage
    neck: int = 48
    input_size: int = 320

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ConfigError("num_classes", f"must be >= 1, got {self.num_classes}")
        if min(self.stem, self.neck, *self.stages) < 4:
            raise ConfigError("stages", "every width must be >= 4 channels", fix="raise width_mult")
        if self.input_size % max(STRIDES) != 0:
            raise ConfigError("input_size", f"must be a multiple of {max(STRIDES)}, got {self.input_size}")

    @classmethod
    def scaled(cls, width_mult: float, **overrides: object) -> DetectorConfig:
        """The default architecture with every width multiplied by ``width_mult`` (multiples of 4)."""
        def w(c: int) -> int:
            return max(4, int(round(c * width_mult / 4.0)) * 4)
        base = cls()
        fields: dict[str, object] = {
            "stem": w(base.stem), "stages": tuple(w(c) for c in base.stages), "neck": w(base.neck),
        }
        fields.update(overrides)
        return cls(**fields)  # type: ignore[arg-type]


class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU: the only compute block in the model."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act: nn.Module = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.bn(self.conv(x)))
        return out


class Residual(nn.Module):
    """x + expand(reduce(x)): a 1x1 to half width then a 3x3 back; the inner width is prunable."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(4, channels // 2)
        self.reduce = ConvBNAct(channels, hidden, 1)
        self.expand = ConvBNAct(hidden, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.expand(self.reduce(x))
        return out


def _stage(c_in: int, c_out: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(ConvBNAct(c_in, c_out, 3, 2), *[Residual(c_out) for _ in range(blocks)])


class Head(nn.Module):
    """One level's prediction head: 3x3 conv then a 1x1 to 4 box + 1 objectness + C class logits."""

    def __init__(self, c_in: int, num_classes: int) -> None:
        super().__init__()
        self.stem = ConvBNAct(c_in, c_in, 3)
        self.pred = nn.Conv2d(c_in, 5 + num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.pred(self.stem(x))
        return out


class Detector(nn.Module):
    """Backbone (strides 4..32) -> top-down FPN (strides 8, 16, 32) -> one head per level."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DetectorConfig()
        c1, c2, c3, c4 = cfg.stages
        self.stem = ConvBNAct(3, cfg.stem, 3, 2)
        self.stage1 = _stage(cfg.stem, c1, cfg.blocks[0])
        self.stage2 = _stage(c1, c2, cfg.blocks[1])
        self.stage3 = _stage(c2, c3, cfg.blocks[2])
        self.stage4 = _stage(c3, c4, cfg.blocks[3])
        self.lateral3 = ConvBNAct(c2, cfg.neck, 1)
        self.lateral4 = ConvBNAct(c3, cfg.neck, 1)
        self.lateral5 = ConvBNAct(c4, cfg.neck, 1)
        self.smooth4 = ConvBNAct(cfg.neck, cfg.neck, 3)
        self.smooth3 = ConvBNAct(cfg.neck, cfg.neck, 3)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.heads = nn.ModuleList([Head(cfg.neck, cfg.num_classes) for _ in STRIDES])
        self._init_bias()

    def _init_bias(self) -> None:
        """Start objectness and class logits at a low prior (focal-loss style) so training is stable."""
        prior = float(torch.log(torch.tensor(0.01 / 0.99)))
        for head in self.heads:
            assert isinstance(head, Head)
            with torch.no_grad():
                assert head.pred.bias is not None
                head.pred.bias[4:] = prior

    def forward_raw(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Logits per level, [N, 5 + C, H/s, W/s] for s in STRIDES: tx, ty, tw, th, obj, classes."""
        x = self.stage1(self.stem(images))
        f3 = self.stage2(x)
        f4 = self.stage3(f3)
        f5 = self.stage4(f4)
        p5 = self.lateral5(f5)
        p4 = self.smooth4(self.lateral4(f4) + self.up(p5))
        p3 = self.smooth3(self.lateral3(f3) + self.up(p4))
        return [head(p) for head, p in zip(self.heads, (p3, p4, p5), strict=True)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] RGB in [0, 1] -> predictions [N, A, 5 + C] (see module docstring)."""
        boxes, obj, cls = decode_raw(self.forward_raw(images))
        return torch.cat([boxes, obj.sigmoid().unsqueeze(-1), cls.sigmoid()], dim=-1)


def anchor_points(raw: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres [A, 2] in input pixels and their strides [A, 1], in the order of ``decode_raw``."""
    points, strides = [], []
    for level, stride in zip(raw, STRIDES, strict=True):
        h, w = level.shape[-2:]
        ys = (torch.arange(h, dtype=level.dtype, device=level.device) + 0.5) * stride
        xs = (torch.arange(w, dtype=level.dtype, device=level.device) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2))
        strides.append(torch.full((h * w, 1), float(stride), dtype=level.dtype, device=level.device))
    return torch.cat(points), torch.cat(strides)


def decode_raw(raw: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Level logits -> (boxes cx cy w h [N, A, 4] in input pixels, obj logits [N, A], class logits [N, A, C])."""
    flat = torch.cat([level.flatten(2) for level in raw], dim=2).permute(0, 2, 1)
    points, strides = anchor_points(raw)
    xy = points + flat[..., 0:2] * strides
    wh = torch.exp(flat[..., 2:4].clamp(max=MAX_LOG_SIZE)) * strides
    return torch.cat([xy, wh], dim=-1), flat[..., 4], flat[..., 5:]


def num_anchors(input_size: int) -> int:
    """Rows of ``predictions`` for a square input: one per cell of each level."""
    return sum((input_size // s) ** 2 for s in STRIDES)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
