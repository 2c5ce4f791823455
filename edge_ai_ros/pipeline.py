"""One model's whole data path: RGB image -> preprocess -> engine -> decoder -> FrameResult.

The node, replay, calibration checks and benchmarks all call this, so they measure and
serve the same thing. Everything that can be checked once is checked at construction
(artifact hash, engine input/output specs against the manifest and the decoder), so a
mismatch is a clear ManifestError at load, never a wrong box at run time.

Thread safety: one Perception is used by one thread at a time (engines keep one infer
request and preprocess buffers are reused); the node serialises frames. Use one
Perception per thread to run several in parallel.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edge_ai_ros.decoders import DecodeFn, Decoder, bind_outputs, make_decoder
from edge_ai_ros.engines.base import Engine, EngineInfo, TensorSpec
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import load_engine
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.imaging.banded_resize import BandedResizer
from edge_ai_ros.manifest import DecoderSpec, ModelManifest, load_manifest, verify_artifact
from edge_ai_ros.preprocess import BatchCanvas, InputCanvas, LetterboxTransform
from edge_ai_ros.results import FrameResult, StageTimings

_TASK_DECODERS = {"detection": "yolo", "classification": "classification", "segmentation": "segmentation"}
_INPUT_DTYPES = ("float32", "float16")


class Perception:
    """A loaded model ready to turn RGB uint8 frames into results, with stage timings."""

    def __init__(
        self, manifest_path: str | Path, *, backend: str = "auto", options: EngineOptions | None = None,
        decoder: DecoderSpec | None = None, parallel_resize: bool = False,
    ) -> None:
        """``decoder`` replaces the manifest's decoder spec (e.g. the node's threshold parameters).
        ``parallel_resize`` resizes on two threads with identical pixels (imaging/banded_resize.py)."""
        self._manifest_path = Path(manifest_path)
        self._manifest = load_manifest(self._manifest_path)
        self._declared_decoder = self._manifest.decoder
        if decoder is not None:
            self._manifest = self._manifest.with_updates(decoder=decoder)
        artifact = verify_artifact(self._manifest, self._manifest_path)
        self._decoder: Decoder = make_decoder(self._manifest.decoder, self._manifest.labels)
        _check_task(self._manifest)
        self._engine: Engine = load_engine(artifact, backend=backend, options=options, manifest=self._manifest)
        try:
            self._input, self._output = _check_engine(self._manifest, self._engine.info)
            self._decode: DecodeFn = bind_outputs(self._decoder, self._engine.info.outputs, self._output)
        except ManifestError:
            self._engine.close()
            raise
        # the helper thread only serves plain bilinear (imaging/banded_resize.py); "fast" never uses it
        bilinear = self._manifest.preprocess.resample == "bilinear"
        self._resizer = BandedResizer() if parallel_resize and bilinear else None
        self._canvas = InputCanvas(self._manifest.preprocess)

    @property
    def model_id(self) -> str:
        return self._manifest.model_id

    @property
    def manifest(self) -> ModelManifest:
        return self._manifest

    @property
    def engine_info(self) -> EngineInfo:
        return self._engine.info

    @property
    def declared_decoder(self) -> DecoderSpec:
        """The manifest file's decoder spec, before any override (what "keep the manifest's value" means)."""
        return self._declared_decoder

    def set_decoder(self, spec: DecoderSpec) -> None:
        """Decode with ``spec`` (e.g. new thresholds) from the next frame; checked as at load.

        Safe beside a running frame: that frame finishes with the decoder it started with.
        """
        decoder = make_decoder(spec, self._manifest.labels)
        decode = bind_outputs(decoder, self._engine.info.outputs, self._output)
        self._manifest = self._manifest.with_updates(decoder=spec)
        self._decoder, self._decode = decoder, decode

    def warmup(self, runs: int = 3) -> None:
        """Run ``runs`` frames of the model's input size so the first real frame is not slow."""
        spec = self._manifest.preprocess
        frame = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
        for _ in range(runs):
            self.run(frame)

    def run(self, image_rgb: np.ndarray) -> FrameResult:
        """RGB uint8 HxWx3 -> results in original-image pixels. Bad images raise InvalidInputError."""
        start = time.perf_counter()
        tensor, transform = self._canvas.fill(image_rgb, self._resizer)
        if tensor.dtype.name != self._input.dtype:
            tensor = tensor.astype(self._input.dtype)
        preprocessed = time.perf_counter()
        outputs = self._engine.infer({self._input.name: tensor})
        inferred = time.perf_counter()
        decoded = self._decode(outputs, transform)  # one read: see set_decoder
        done = time.perf_counter()
        return FrameResult(
            model_id=self._manifest.model_id, task=self._manifest.task, detections=decoded.detections,
            classification=decoded.classification, mask=decoded.mask,
            timings=StageTimings(preprocess_s=preprocessed - start, inference_s=inferred - preprocessed,
                                 postprocess_s=done - inferred),
        )

    # ---- batches (many cameras; serving/batch_pipeline.py) -----------------------------------
    @property
    def batch_limit(self) -> int:
        """The most frames one engine call takes (1 for a model exported with a fixed batch of 1)."""
        return batch_limit(self._engine.info, self._input)

    def batch_canvas(self, max_batch: int) -> BatchCanvas:
        """A ring of input tensors of up to ``max_batch`` frames for :meth:`prepare_batch`."""
        return BatchCanvas(self._manifest.preprocess, max_batch)

    def prepare_batch(self, images: list[np.ndarray],
                      canvas: BatchCanvas) -> tuple[np.ndarray, list[LetterboxTransform]]:
        """Checked RGB images of any sizes, each letterboxed to the model input, stacked."""
        tensor, transforms = canvas.fill(images, self._resizer)
        if tensor.dtype.name != self._input.dtype:
            tensor = tensor.astype(self._input.dtype)
        return tensor, transforms

    def infer_batch(self, tensor: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Run a stacked batch in as few engine calls as the engine allows; the outputs of each frame."""
        limit = self.batch_limit
        per_frame: list[dict[str, np.ndarray]] = []
        for start in range(0, tensor.shape[0], limit):
            chunk = tensor[start : start + limit]
            outputs = self._engine.infer({self._input.name: chunk})
            if chunk.shape[0] == 1:
                per_frame.append(outputs)
            else:
                per_frame += [{name: out[i : i + 1] for name, out in outputs.items()} for i in range(chunk.shape[0])]
        return per_frame

    def decode(self, outputs: dict[str, np.ndarray], transform: LetterboxTransform,
               timings: StageTimings) -> FrameResult:
        """One frame's results from its engine outputs (batch item 0) with the given stage timings."""
        decoded = self._decode(outputs, transform)
        return FrameResult(
            model_id=self._manifest.model_id, task=self._manifest.task, detections=decoded.detections,
            classification=decoded.classification, mask=decoded.mask, timings=timings)

    def close(self) -> None:
        self._engine.close()
        if self._resizer is not None:
            self._resizer.close()

    def __enter__(self) -> Perception:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MAX_BATCH = 64


def batch_limit(info: EngineInfo, image_input: TensorSpec) -> int:
    """Frames per engine call: 1 for a fixed batch dimension (the pipeline loads only batch 1 there);
    for a dynamic one, when every output has a dynamic batch dimension too (so each frame's outputs
    can be split off), the engine's ``max_batch`` detail (a TensorRT optimization profile) or MAX_BATCH."""
    first = image_input.shape[0] if image_input.shape else 1
    if isinstance(first, int) or not all(o.shape and isinstance(o.shape[0], str) for o in info.outputs):
        return 1
    profile = str(info.details.get("max_batch", "")).strip()
    return max(1, min(MAX_BATCH, int(profile))) if profile.isdigit() else MAX_BATCH


def _check_task(manifest: ModelManifest) -> None:
    expected = _TASK_DECODERS[manifest.task]
    if manifest.decoder.kind != expected:
        raise ManifestError(
            f"task {manifest.task!r} is decoded by {expected!r}, the manifest names {manifest.decoder.kind!r}",
            fix=f"set decoder.kind to {expected!r}",
        )


def _check_engine(manifest: ModelManifest, info: EngineInfo) -> tuple[TensorSpec, TensorSpec]:
    """The engine's single image input and decoded output, checked against manifest and decoder."""
    if len(info.inputs) != 1:
        raise ManifestError(f"the pipeline feeds one image input; the engine has {[i.name for i in info.inputs]}",
                            fix="export the model with a single image input")
    engine_input = info.inputs[0]
    _check_listed(manifest.inputs, info.inputs, "input")
    _check_listed(manifest.outputs, info.outputs, "output")
    pre = manifest.preprocess
    image_shape = (1, 3, pre.height, pre.width) if pre.layout == "nchw" else (1, pre.height, pre.width, 3)
    wanted = TensorSpec(name=engine_input.name, shape=image_shape, dtype=engine_input.dtype)
    if engine_input.dtype not in _INPUT_DTYPES or not wanted.is_compatible(engine_input):
        raise ManifestError(
            f"engine input {engine_input.name!r} is {engine_input.dtype} {list(engine_input.shape)}; preprocess "
            f"makes float32 {list(image_shape)}",
            fix="make preprocess.width/height/layout match the model's input",
        )
    return engine_input, _decoded_output(manifest, info)


def _check_listed(listed: tuple[TensorSpec, ...], actual: tuple[TensorSpec, ...], kind: str) -> None:
    by_name = {t.name: t for t in actual}
    for spec in listed:
        found = by_name.get(spec.name)
        if found is None or not spec.is_compatible(found):
            got = f"{found.dtype} {list(found.shape)}" if found else f"no such {kind} (has {sorted(by_name)})"
            raise ManifestError(
                f"manifest {kind} {spec.name!r} is {spec.dtype} {list(spec.shape)}; the engine: {got}",
                fix="regenerate the manifest for this artifact",
            )


def _decoded_output(manifest: ModelManifest, info: EngineInfo) -> TensorSpec:
    name = manifest.decoder.output
    if not info.outputs:
        raise ManifestError("the engine has no outputs", fix="check the exported model")
    if not name:
        return info.outputs[0]
    for spec in info.outputs:
        if spec.name == name:
            return spec
    raise ManifestError(f"decoder.output {name!r} is not an engine output ({[o.name for o in info.outputs]})",
                        fix="set decoder.output to one of the engine's outputs, or '' for the first")

