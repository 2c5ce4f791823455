"""Quantization-aware training: fake INT8 in the forward pass, QDQ ONNX out.

BatchNorm is folded into the preceding conv first (the deployed graph has no BN either),
then every Conv2d becomes a FakeQuantConv2d: its input activation is fake-quantized per
tensor (EMA min/max observer), its weight per output channel (symmetric s8 in
[-weight_qmax, weight_qmax]: 127, or 64 where the serving CPU lacks VNNI, see
``edge_ai_ros.int8_format``) and, for runtimes that fuse DQ->Conv->Q into an INT8
kernel (ONNX Runtime, OpenVINO), its output too, except the output convs (no layer
consumes them, e.g. a detector's prediction convs): one INT8 scale over pixel offsets, log
sizes and score logits is coarse, and everything after them (box decoding, the concat of
pixels with 0..1 scores) stays float, as the compiler keeps its PTQ ``output_tail``.
Gradients pass straight through the rounding (PyTorch's fake_quantize ops implement the
straight-through estimator). ``freeze_qat`` also rounds each bias to the int32 grid the
export stores, so the fake-quantized model computes what the runtime computes.

Exported with the TorchScript ONNX exporter, the fake-quantize ops become
QuantizeLinear/DequantizeLinear pairs; ``qdq_onnx.finalize_qdq`` then stores weights as
int8 and biases as int32 so runtimes build real INT8 convolutions.

Activation types: "u8" (asymmetric, what ONNX Runtime's x86 VNNI/AMX kernels want) or
"s8" (symmetric, what TensorRT wants). ``QatConfig.for_target`` takes both from the target's
INT8 format; the plain default is this host's CPU format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from edge_ai_ros.compression.graph_probe import conv_bn_pairs, output_layers
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.host import CpuFeatures
from edge_ai_ros.int8_format import FULL_WEIGHT_QMAX, REDUCED_WEIGHT_QMAX, int8_format_for

ACTIVATION_TYPES = ("u8", "s8")


@dataclass(frozen=True, kw_only=True)
class QatConfig:
    activation: str = "u8"
    quantize_outputs: bool = True  # Q after each conv: ORT/OpenVINO fuse DQ->Conv->Q; TensorRT prefers False
    float_head_outputs: bool = True  # output convs (nothing consumes them) keep a float output
    ema_momentum: float = 0.9
    skip: tuple[str, ...] = ()  # conv names left in float
    # 127, or 64 (7-bit, "reduce_range") where u8 x s8 kernels can saturate: this host's CPU format
    weight_qmax: int = field(default_factory=lambda: int8_format_for("cpu").weight_qmax)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATION_TYPES:
            raise ConfigError("qat.activation", f"must be one of {ACTIVATION_TYPES}, got {self.activation!r}",
                              fix="use 'u8' for CPU runtimes, 's8' for TensorRT")
        if self.weight_qmax not in (FULL_WEIGHT_QMAX, REDUCED_WEIGHT_QMAX):
            raise ConfigError("qat.weight_qmax", f"must be {FULL_WEIGHT_QMAX} or {REDUCED_WEIGHT_QMAX}, got "
                              f"{self.weight_qmax}", fix="use 64 (reduce_range) for x86 CPUs without VNNI")
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ConfigError("qat.ema_momentum", f"must be in [0, 1), got {self.ema_momentum}", fix="use 0.9")

    @classmethod
    def for_target(cls, target: str, features: CpuFeatures | None = None, **changes: object) -> QatConfig:
        """The config whose activation type and weight range are ``target``'s INT8 format on the CPU
        with ``features`` (default: this host, where the export is checked)."""
        fmt = int8_format_for(target, features)
        return cls(activation=fmt.activation, weight_qmax=fmt.weight_qmax, **changes)  # type: ignore[arg-type]


class ActivationFakeQuant(nn.Module):
    """Per-tensor fake quantization with an EMA min/max observer (frozen in eval mode)."""

    min_val: torch.Tensor
    max_val: torch.Tensor
    initialized: torch.Tensor

    def __init__(self, activation: str, momentum: float) -> None:
        super().__init__()
        self.qmin, self.qmax = (0, 255) if activation == "u8" else (-128, 127)
        self.symmetric = activation == "s8"
        self.momentum = momentum
        self.register_buffer("min_val", torch.tensor(0.0))
        self.register_buffer("max_val", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.frozen: tuple[float, int] | None = None  # plain numbers: the ONNX exporter needs constants

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen is not None:
            return torch.fake_quantize_per_tensor_affine(x, self.frozen[0], self.frozen[1], self.qmin, self.qmax)
        if self.training:
            self._observe(x.detach())
        scale, zero_point = self.qparams()
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, self.qmin, self.qmax)

    def freeze(self) -> None:
        scale, zero_point = self.qparams()
        self.frozen = (float(scale), int(zero_point))

    def _observe(self, x: torch.Tensor) -> None:
        lo, hi = x.min(), x.max()
        if not bool(self.initialized):
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
            self.initialized.fill_(True)
        else:
            self.min_val.mul_(self.momentum).add_(lo * (1 - self.momentum))
            self.max_val.mul_(self.momentum).add_(hi * (1 - self.momentum))

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.clamp(self.min_val, max=0.0)
        hi = torch.clamp(self.max_val, min=0.0)
        if self.symmetric:
            scale = torch.maximum(-lo, hi) / 127.0
            zero_point = torch.zeros((1,), dtype=torch.int32)
        else:
            scale = (hi - lo) / float(self.qmax - self.qmin)
            zero_point = torch.clamp(torch.round(-lo / scale.clamp(min=1e-12)), self.qmin, self.qmax).to(torch.int32)
        return scale.clamp(min=1e-8).reshape(1), zero_point.reshape(1)


class FakeQuantConv2d(nn.Module):
    """A (BN-folded) conv with fake-quantized input, per-channel weight and optional output."""

    def __init__(self, conv: nn.Conv2d, config: QatConfig, *, quantize_output: bool | None = None) -> None:
        super().__init__()
        self.conv = conv
        self.weight_qmax = config.weight_qmax
        self.input_quant = ActivationFakeQuant(config.activation, config.ema_momentum)
        quantize_output = config.quantize_outputs if quantize_output is None else quantize_output
        self.output_quant = ActivationFakeQuant(config.activation, config.ema_momentum) if quantize_output else None
        self.frozen_weight_scale: torch.Tensor | None = None  # unregistered: traced as a constant
        self.frozen_bias: torch.Tensor | None = None  # bias on the int32 grid the export stores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        weight = fake_quantize_weight(conv.weight, self.frozen_weight_scale, self.weight_qmax)
        bias = conv.bias if self.frozen_bias is None else self.frozen_bias
        out: torch.Tensor = conv._conv_forward(self.input_quant(x), weight, bias)
        return self.output_quant(out) if self.output_quant is not None else out


def weight_scale(weight: torch.Tensor, qmax: int = FULL_WEIGHT_QMAX) -> torch.Tensor:
    amax = weight.detach().abs().amax(dim=tuple(range(1, weight.dim()))).clamp(min=1e-8)
    return (amax / float(qmax)).to(torch.float32)


def fake_quantize_weight(weight: torch.Tensor, scale: torch.Tensor | None = None,
                         qmax: int = FULL_WEIGHT_QMAX) -> torch.Tensor:
    """Symmetric per-output-channel s8 in [-qmax, qmax] (qmax 127, or 64 for 7-bit weights)."""
    scale = weight_scale(weight, qmax) if scale is None else scale
    zero_point = torch.zeros_like(scale, dtype=torch.int32)
    # the clamp stays [-128, 127] (the only s8 range the ONNX exporter writes); the scale keeps |q| <= qmax
    quantized: torch.Tensor = torch.fake_quantize_per_channel_affine(weight, scale, zero_point, 0, -128, 127)
    return quantized


def fake_quantize_bias(bias: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Round the bias to int32 steps of s_x * s_w, as the exported graph stores it (``qdq_onnx``).

    Applied once the scales are frozen: the runtime adds this rounded bias, and a float bias
    in torch puts some outputs on the other side of a rounding boundary; through the network
    those single-step flips grow to whole steps of the head logits (0.13 of a score on the
    trained detector). The frozen bias is a constant, so the exporter still writes it as one
    and ``qdq_onnx`` turns it into the same int32 values.
    """
    step = scale.detach().to(torch.float64).clamp(min=1e-30)
    rounded = (torch.round(bias.detach().to(torch.float64) / step) * step).to(bias.dtype)
    return bias + (rounded - bias).detach()  # straight-through


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """Fold each BN into the conv that feeds it only; the BN becomes Identity. In place."""
    pairs = conv_bn_pairs(model, example)
    modules = dict(model.named_modules())
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        _fold_pair(conv, bn)
        _set_submodule(model, bn_name, nn.Identity())
    return pairs


def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    assert bn.running_var is not None and bn.running_mean is not None, "BN without running statistics"
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        factor = gamma / std
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.mul_(factor.reshape(-1, 1, 1, 1))
        conv.bias = nn.Parameter((bias - bn.running_mean) * factor + beta)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def prepare_qat(model: nn.Module, example: torch.Tensor, config: QatConfig | None = None) -> nn.Module:
    """Fold BN and wrap every Conv2d (except ``config.skip``) with fake quantization, in place."""
    config = config or QatConfig()
    convs: dict[str, nn.Module] = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    _check_names(config.skip, convs)
    heads = set(output_layers(model, example)) if config.float_head_outputs else set()
    fold_batchnorm(model, example)
    for name, conv in convs.items():
        if name not in config.skip:
            assert isinstance(conv, nn.Conv2d)
            quantize_output = config.quantize_outputs and name not in heads
            _set_submodule(model, name, FakeQuantConv2d(conv, config, quantize_output=quantize_output))
    return model


def freeze_qat(model: nn.Module) -> int:
    """Fix every scale and zero point (after training, before evaluation and export)."""
    frozen = 0
    for module in model.modules():
        if isinstance(module, ActivationFakeQuant):
            module.freeze()
        elif isinstance(module, FakeQuantConv2d):
            module.input_quant.freeze()  # its scale sets the bias grid (idempotent: modules() repeats it)
            module.frozen_weight_scale = weight_scale(module.conv.weight, module.weight_qmax).clone()
            bias = module.conv.bias
            if bias is not None and module.input_quant.frozen is not None:
                step = module.input_quant.frozen[0] * module.frozen_weight_scale
                module.frozen_bias = fake_quantize_bias(bias, step).detach().clone()
            frozen += 1
    return frozen


def calibrate_observers(model: nn.Module, batches: Sequence[torch.Tensor]) -> None:
    """Initialise the observers from real data before training (no weight updates)."""
    was_training = model.training
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    model.train(was_training)


def _check_names(names: Sequence[str], convs: dict[str, nn.Module]) -> None:
    unknown = [n for n in names if n not in convs]
    if unknown:
        raise ConfigError("qat.skip", f"no Conv2d named {unknown}", fix=f"choose from {sorted(convs)[:8]}")


def count_fake_quant(model: nn.Module) -> int:
    return sum(isinstance(m, FakeQuantConv2d) for m in model.modules())
