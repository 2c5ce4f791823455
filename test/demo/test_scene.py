"""The scene generator: deterministic, boxes valid and tight, sequences move smoothly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge_ai_ros.demo.scene import (
    CLASSES,
    World,
    WorldObject,
    advance,
    generate_scene,
    render,
    sample_world,
    scene_at,
)


def test_same_seed_same_scene() -> None:
    a = generate_scene(np.random.default_rng(7))
    b = generate_scene(np.random.default_rng(7))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_different_seeds_differ() -> None:
    a, b = scene_at("train", 0, 0), scene_at("train", 0, 1)
    assert not np.array_equal(a.image, b.image)


def test_splits_are_disjoint_streams() -> None:
    assert not np.array_equal(scene_at("train", 0, 3).image, scene_at("eval", 0, 3).image)


@pytest.mark.parametrize("index", range(12))
def test_boxes_are_valid(index: int) -> None:
    scene = scene_at("eval", 1, index)
    assert scene.image.shape == (480, 640, 3) and scene.image.dtype == np.uint8
    assert scene.boxes.dtype == np.float32 and scene.boxes.shape == (len(scene.class_ids), 4)
    assert scene.class_ids.dtype == np.int64
    assert np.all((scene.class_ids >= 0) & (scene.class_ids < len(CLASSES)))
    if len(scene.boxes):
        assert np.all(scene.boxes[:, 2] > scene.boxes[:, 0]) and np.all(scene.boxes[:, 3] > scene.boxes[:, 1])
        assert np.all(scene.boxes >= 0) and np.all(scene.boxes[:, [0, 2]] <= 640) and np.all(scene.boxes[:, [1, 3]] <= 480)
        assert np.all(np.minimum(scene.boxes[:, 2] - scene.boxes[:, 0], scene.boxes[:, 3] - scene.boxes[:, 1]) >= 5)


def test_every_class_appears_and_scenes_have_content() -> None:
    classes = np.concatenate([scene_at("eval", 2, i).class_ids for i in range(30)])
    assert set(classes.tolist()) == {0, 1, 2}
    assert len(classes) >= 60  # about six objects a frame


def _plain_world(*objects: WorldObject) -> World:
    """A world with neutral lighting and no noise, holding only ``objects``."""
    world = sample_world(np.random.default_rng(3))
    look = replace(world.look, noise=0, blur=0.0, brightness=1.0, gamma=1.0, tint=(1.0, 1.0, 1.0))
    return replace(world, look=look, objects=objects)


CAR = WorldObject(kind="car", x=0.0, z=12.0, width=1.8, height=1.5, color=(200, 30, 30))


def test_box_is_tight_on_drawn_pixels() -> None:
    with_car = render(_plain_world(CAR), np.random.default_rng(0))
    empty = render(_plain_world(), np.random.default_rng(0))
    ys, xs = np.nonzero(np.any(with_car.image != empty.image, axis=2))
    assert with_car.boxes.tolist() == [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
    assert with_car.class_ids.tolist() == [0]


def test_hidden_object_is_dropped_and_partly_hidden_box_shrinks() -> None:
    truck = WorldObject(kind="truck", x=0.0, z=8.0, width=2.5, height=3.4, color=(30, 30, 200))
    hidden = render(_plain_world(CAR, truck), np.random.default_rng(0))
    assert hidden.class_ids.tolist() == [0]  # only the truck: the car behind it is not visible
    beside = replace(truck, x=1.6)  # covers the car's right part only
    partly = render(_plain_world(CAR, beside), np.random.default_rng(0))
    alone = render(_plain_world(CAR), np.random.default_rng(0))
    car_box = partly.boxes[np.argmax(partly.boxes[:, 0] == alone.boxes[0, 0])]
    assert car_box[2] < alone.boxes[0, 2] and car_box[0] == alone.boxes[0, 0]


def test_object_mostly_out_of_frame_is_dropped() -> None:
    far_left = replace(CAR, x=-9.0, z=6.0)
    assert len(render(_plain_world(far_left), np.random.default_rng(0)).boxes) == 0


def test_advance_moves_objects_smoothly() -> None:
    rng = np.random.default_rng(11)
    world = sample_world(rng)
    later = advance(world, 0.1, 10.0, rng)
    assert len(later.objects) == len(world.objects)
    moved = [abs(b.z - a.z) for a, b in zip(world.objects, later.objects, strict=True) if 3.5 < b.z < 100]
    assert moved and max(moved) < 3.0  # at most ~25 m/s relative in 0.1 s
