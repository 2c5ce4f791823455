"""Many cameras through one engine: prepare, run and publish batches on three threads (no ROS).

    Batcher --take--> [prepare] --queue(1)--> [run] --queue(1)--> [publish]
                       convert, letterbox      engine, one call    decode, publish per frame

While the engine runs batch k, the prepare thread converts and letterboxes batch k+1 and the
publish thread decodes and publishes batch k-1 (numpy, Pillow and the engines release the GIL
in their C code). Every hand-off is bounded (one batch each), so a slow engine makes frames
wait in the batcher, where a newer frame of the same camera replaces them: latency stays one
batch deep instead of growing.

Failures stay with their frame: a frame that cannot be converted is counted ``bad_frame`` on
its camera and left out of the batch; an engine failure counts ``failed`` on each camera of
that batch; the other cameras and the next batch go on. A frame older than ``max_age_s`` when
its batch reaches the engine is dropped (``too_old``), never run.

Hot swap: the run thread leases the model slot for one batch (serving/model_slot.py), so a swap
installs between two batches; a batch prepared for the previous model is prepared again for
the new one (its input size may differ). Decoding uses the model that ran the batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from edge_ai_ros.errors import EdgeAiError, InvalidInputError
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.preprocess import BatchCanvas, LetterboxTransform, check_image
from edge_ai_ros.results import FrameResult, StageTimings
from edge_ai_ros.serving.batcher import Batcher, Frame
from edge_ai_ros.serving.model_slot import ModelSlot

T = TypeVar("T")

_POLL_S = 0.1


@dataclass(frozen=True, kw_only=True)
class BatchTimes:
    """Monotonic seconds of one batch's stage points (the clock of the batcher)."""

    taken: float
    prepared: float
    ran: float
    size: int


@dataclass(frozen=True, kw_only=True)
class _Prepared(Generic[T]):
    frames: list[Frame[T]]
    images: list[np.ndarray]
    tensor: np.ndarray
    transforms: list[LetterboxTransform]
    model: Perception
    taken: float
    prepared: float


@dataclass(frozen=True, kw_only=True)
class _Ran(Generic[T]):
    frames: list[Frame[T]]
    outputs: list[dict[str, np.ndarray]]
    transforms: list[LetterboxTransform]
    model: Perception
    timings: StageTimings
    times: BatchTimes


@dataclass(frozen=True, kw_only=True)
class Hooks(Generic[T]):
    """What the node plugs in: message -> RGB, and where answers and failures go."""

    convert: Callable[[T], np.ndarray]  # raises InvalidInputError for a bad frame
    publish: Callable[[Frame[T], FrameResult, BatchTimes], None]
    rejected: Callable[[Frame[T], InvalidInputError], None]
    failed: Callable[[EdgeAiError], None]


class BatchPipeline(Generic[T]):
    def __init__(self, batcher: Batcher[T], slot: ModelSlot[Perception], hooks: Hooks[T], *,
                 max_age_s: float, clock: Callable[[], float] = time.monotonic, inline: bool = False) -> None:
        """``inline``: the three stages run one after the other on one thread (one camera: nothing to
        overlap, and two thread hand-offs fewer per frame)."""
        self._batcher, self._slot, self._hooks = batcher, slot, hooks
        self._max_age_s, self._clock = max_age_s, clock
        self._stats = batcher.stats
        self._prepared: queue.Queue[_Prepared[T]] = queue.Queue(maxsize=1)
        self._ran: queue.Queue[_Ran[T]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._canvas: tuple[Perception, BatchCanvas] | None = None
        self._inline = inline
        stages = (("prepare", self._prepare_loop),) if inline else (
            ("prepare", self._prepare_loop), ("run", self._run_loop), ("publish", self._publish_loop))
        self._threads = [threading.Thread(target=self._guarded, args=(loop,), name=f"batch_{name}", daemon=True)
                         for name, loop in stages]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, join_s: float = 10.0) -> None:
        """Stop taking batches; finish the threads (frames in flight are not published)."""
        self._stop.set()
        self._batcher.close()
        current = threading.current_thread()
        for thread in self._threads:
            if thread.is_alive() and thread is not current:
                thread.join(join_s)

    @property
    def threads(self) -> tuple[str, ...]:
        """Names of the pipeline's threads (one when inline, else prepare, run, publish)."""
        return tuple(t.name for t in self._threads)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # ---- the three stages -----------------------------------------------------------------
    def _guarded(self, loop: Callable[[], None]) -> None:
        while not self._stop.is_set():
            loop()

    def _prepare_loop(self) -> None:
        frames = self._batcher.take(_POLL_S)
        if not frames:
            return
        taken = self._clock()
        good, images = self._convert(frames)
        model = self._slot.peek()
        if not good or model is None:
            return
        try:
            tensor, transforms = model.prepare_batch(images, self._canvas_for(model, len(images)))
        except EdgeAiError as err:
            self._fail(good, err)
            return
        prepared = _Prepared(frames=good, images=images, tensor=tensor, transforms=transforms, model=model,
                             taken=taken, prepared=self._clock())
        if self._inline:
            self._run(prepared)
        else:
            self._put(self._prepared, prepared)

    def _run_loop(self) -> None:
        item = self._get(self._prepared)
        if item is not None:
            self._run(item)

    def _run(self, prepared: _Prepared[T]) -> None:
        item = self._fresh(prepared)
        if item is None:
            return
        try:
            with self._slot.lease() as model:
                if model is None:
                    return
                tensor, transforms = item.tensor, item.transforms
                if model is not item.model:  # swapped since it was prepared: the input may differ
                    tensor, transforms = model.prepare_batch(item.images, model.batch_canvas(len(item.images)))
                started = self._clock()
                outputs = model.infer_batch(tensor)
                ran = self._clock()
        except EdgeAiError as err:
            self._fail(item.frames, err)
            return
        timings = StageTimings(preprocess_s=item.prepared - item.taken, inference_s=ran - started, postprocess_s=0.0)
        times = BatchTimes(taken=item.taken, prepared=item.prepared, ran=ran, size=len(item.frames))
        ran_batch = _Ran(frames=item.frames, outputs=outputs, transforms=transforms, model=model, timings=timings,
                         times=times)
        if self._inline:
            self._publish(ran_batch)
        else:
            self._put(self._ran, ran_batch)

    def _publish_loop(self) -> None:
        item = self._get(self._ran)
        if item is not None:
            self._publish(item)

    def _publish(self, item: _Ran[T]) -> None:
        for frame, outputs, transform in zip(item.frames, item.outputs, item.transforms, strict=True):
            start = time.perf_counter()
            try:
                result = item.model.decode(outputs, transform, item.timings)
            except EdgeAiError as err:
                self._fail([frame], err)
                continue
            timings = StageTimings(preprocess_s=item.timings.preprocess_s, inference_s=item.timings.inference_s,
                                   postprocess_s=time.perf_counter() - start)
            self._hooks.publish(frame, FrameResult(
                model_id=result.model_id, task=result.task, detections=result.detections,
                classification=result.classification, mask=result.mask, timings=timings), item.times)
            self._stats.count(frame.camera, "answered")

    # ---- helpers --------------------------------------------------------------------------
    def _convert(self, frames: list[Frame[T]]) -> tuple[list[Frame[T]], list[np.ndarray]]:
        good, images = [], []
        for frame in frames:
            try:
                image = self._hooks.convert(frame.item)
                check_image(image)
            except InvalidInputError as err:
                self._stats.drop(frame.camera, "bad_frame")
                self._hooks.rejected(frame, err)
                continue
            good.append(frame)
            images.append(image)
        return good, images

    def _canvas_for(self, model: Perception, count: int) -> BatchCanvas:
        """One ring of input tensors per serving model, sized for the batcher's batch."""
        if self._canvas is None or self._canvas[0] is not model or self._canvas[1].max_batch < count:
            self._canvas = (model, model.batch_canvas(max(count, self._batcher.batch_size)))
        return self._canvas[1]

    def _fresh(self, item: _Prepared[T]) -> _Prepared[T] | None:
        """``item`` without frames that aged past max_age while queued (None when none is left)."""
        now = self._clock()
        keep = [k for k, f in enumerate(item.frames) if now - f.received <= self._max_age_s]
        if len(keep) == len(item.frames):
            return item
        for k, frame in enumerate(item.frames):
            if k not in keep:
                self._stats.drop(frame.camera, "too_old")
        if not keep:
            return None
        return _Prepared(frames=[item.frames[k] for k in keep], images=[item.images[k] for k in keep],
                         tensor=item.tensor[keep], transforms=[item.transforms[k] for k in keep],
                         model=item.model, taken=item.taken, prepared=item.prepared)

    def _fail(self, frames: list[Frame[T]], err: EdgeAiError) -> None:
        for frame in frames:
            self._stats.drop(frame.camera, "failed")
        self._hooks.failed(err)

    def _put(self, target: queue.Queue[Any], item: Any) -> None:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _get(self, source: queue.Queue[Any]) -> Any:
        try:
            return source.get(timeout=_POLL_S)
        except queue.Empty:
            return None
