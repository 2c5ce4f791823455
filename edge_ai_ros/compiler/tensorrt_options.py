"""TensorRT builder settings; separate from tensorrt_build so CPU-only callers can name them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edge_ai_ros.engines.tensorrt_policy import ProfileRange
from edge_ai_ros.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class TensorRtOptions:
    """Optimization profile (dynamic batch and resolution), workspace, compatibility, DLA."""

    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 8
    # (height, width) range for models with dynamic spatial dims; () = the ONNX's fixed size
    min_hw: tuple[int, int] | tuple[()] = ()
    opt_hw: tuple[int, int] | tuple[()] = ()
    max_hw: tuple[int, int] | tuple[()] = ()
    workspace_mib: int = 1024
    timing_cache: str = ""  # "" = <cache_dir>/tensorrt.timing.cache
    hardware_compatible: bool = False  # Ampere+ portable engine
    version_compatible: bool = False  # loadable by newer TensorRT runtimes (lean runtime)
    dla_core: int = -1  # -1 = GPU; >= 0 runs on that DLA core with GPU fallback (static shapes, fp16/int8)
    allow_tf32: bool = False  # False: an fp32 engine computes in true FP32 (TensorRT enables TF32 by default)

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ConfigError("tensorrt.batch", f"need 1 <= min {self.min_batch} <= opt {self.opt_batch} "
                              f"<= max {self.max_batch}", fix="order the profile's batch sizes")
        if self.workspace_mib < 16:
            raise ConfigError("tensorrt.workspace_mib", f"{self.workspace_mib} MiB is too small", fix="use >= 256")
        if len({len(self.min_hw), len(self.opt_hw), len(self.max_hw)}) != 1:
            raise ConfigError("tensorrt.hw", "give min, opt and max height/width together", fix="set all three")

    def ranges(self) -> ProfileRange:
        """The profile ranges for dynamic dimensions (fixed dimensions keep their ONNX size)."""
        hw = (self.min_hw, self.opt_hw, self.max_hw) if self.min_hw and self.opt_hw and self.max_hw else None
        return ProfileRange(batch=(self.min_batch, self.opt_batch, self.max_batch), hw=hw)

    def key_facts(self) -> dict[str, Any]:
        facts = asdict(self)
        facts.pop("timing_cache")  # where the cache lives does not change the engine
        return facts
