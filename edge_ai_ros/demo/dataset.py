"""Generated road scenes as a torch Dataset, preprocessed exactly as the node does.

Images go through ``edge_ai_ros.preprocess.preprocess`` (letterbox, pad 114, 1/255), so
training, calibration and serving see identical tensors. Targets are in letterboxed input
pixels: rows of (class id, x1, y1, x2, y2).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_ai_ros.demo.scene import scene_at
from edge_ai_ros.manifest import PreprocessSpec
from edge_ai_ros.preprocess import preprocess

# resample "fast" (box-reduce, then bilinear): 0.3 ms instead of 1.8 ms for a VGA frame in the
# node, and the model is trained with it, so serving sees the pixels it learned from.
DEMO_PREPROCESS = PreprocessSpec(width=320, height=320, letterbox=True, pad_value=114, resample="fast")


def scene_to_sample(image: np.ndarray, boxes: np.ndarray, class_ids: np.ndarray,
                    spec: PreprocessSpec = DEMO_PREPROCESS) -> tuple[np.ndarray, np.ndarray]:
    """(input tensor [3, H, W] float32, targets [K, 5] class, x1, y1, x2, y2 in input pixels)."""
    tensor, transform = preprocess(image, spec)
    scale = np.array([transform.scale_x, transform.scale_y] * 2, np.float32)
    pad = np.array([transform.pad_x, transform.pad_y] * 2, np.float32)
    targets = np.concatenate([class_ids.astype(np.float32)[:, None], boxes * scale + pad], axis=1)
    return tensor[0], targets.astype(np.float32)


class SceneDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Scene ``index`` of ``split`` for ``seed``, generated on demand (nothing stored)."""

    def __init__(self, *, length: int, seed: int, split: str = "train", flip: bool = True) -> None:
        self.length, self.seed, self.split, self.flip = length, seed, split, flip

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        scene = scene_at(self.split, self.seed, index)
        tensor, targets = scene_to_sample(scene.image, scene.boxes, scene.class_ids)
        if self.flip and index % 2 == 1:  # mirrored world: traffic on the other side
            tensor = np.ascontiguousarray(tensor[:, :, ::-1])
            width = tensor.shape[2]
            targets[:, [1, 3]] = width - targets[:, [3, 1]]
        return torch.from_numpy(tensor), torch.from_numpy(targets)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack images; pad targets to [B, Kmax, 5] with class id -1 for empty rows."""
    images = torch.stack([b[0] for b in batch])
    k_max = max(1, max(b[1].shape[0] for b in batch))
    targets = torch.full((len(batch), k_max, 5), -1.0)
    for i, (_, t) in enumerate(batch):
        targets[i, : t.shape[0]] = t
    return images, targets
