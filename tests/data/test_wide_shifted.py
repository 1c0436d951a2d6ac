import numpy as np
import pytest

from slotviewer.data import GENERATORS, generate, shifted, wide

NEW = ["shapes-wide", *shifted.VARIANTS]


@pytest.mark.parametrize("name", NEW)
def test_deterministic_per_seed_and_index(name: str) -> None:
    a_img, a_mask = generate(name, 5, seed=3)
    b_img, b_mask = generate(name, 5, seed=3)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_mask, b_mask)
    tail, tail_mask = generate(name, 2, seed=3, start=3)
    assert np.array_equal(tail, a_img[3:]) and np.array_equal(tail_mask, a_mask[3:])
    assert not np.array_equal(generate(name, 5, seed=4)[0], a_img)


@pytest.mark.parametrize("name", list(shifted.VARIANTS))
def test_shifted_masks_are_the_visible_pixels(name: str) -> None:
    """Every labelled pixel shows its sprite's one flat colour, different from the background under it."""
    images, masks = generate(name, 30, seed=1)
    variant = shifted.VARIANTS[name]
    for image, mask in zip(images, masks, strict=True):
        count = len(np.unique(mask)) - 1
        assert variant.objects[0] <= count <= variant.objects[1]
        assert set(np.unique(mask)) == set(range(count + 1)), "labels are 0..n with none fully hidden"
        for label in range(1, count + 1):
            pixels = image[mask == label]
            assert len(pixels) >= shifted.MIN_VISIBLE
            assert (pixels == pixels[0]).all()
        background = image[mask == 0]
        if not variant.texture:
            assert (background == background[0]).all() and background[0][0] == background[0][1] == background[0][2]


def test_shifted_sizes_move_as_named() -> None:
    def mean_area(name: str) -> float:
        masks = generate(name, 40, seed=2)[1]
        return float(np.mean([np.bincount(m.ravel())[1:].mean() for m in masks]))

    assert mean_area("shifted-small") < mean_area("shifted-spec") < mean_area("shifted-big")
    assert min(len(np.unique(m)) - 1 for m in generate("shifted-crowded", 20, seed=2)[1]) >= 7


def test_textured_backgrounds_are_not_flat() -> None:
    images, masks = generate("shifted-textured", 10, seed=5)
    assert all(len(np.unique(im[m == 0].reshape(-1, 3), axis=0)) > 2 for im, m in zip(images, masks, strict=True))


def test_wide_clean_scene_masks_match_pixels_and_ranges() -> None:
    """Before degradation each sprite is one flat colour on exactly its mask; counts, sizes and
    out-of-frame sprites cover the ranges the generator promises."""
    counts, areas, touching = [], [], 0
    for i in range(150):
        image, mask = wide.compose(np.random.default_rng([7, i]))
        count = len(np.unique(mask)) - 1
        counts.append(count)
        for label in range(1, count + 1):
            pixels = image[mask == label]
            assert len(pixels) >= wide.MIN_VISIBLE
            assert np.ptp(pixels, axis=0).max() == 0
            areas.append(len(pixels))
            edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
            touching += int((edge == label).any())
    assert min(counts) == wide.MIN_OBJECTS and max(counts) == wide.MAX_OBJECTS
    assert min(areas) < 60 and max(areas) > 600
    assert touching > 20, "some sprites leave the frame"


def test_wide_degradation_is_mild_and_keeps_the_scene() -> None:
    images, masks = generate("shapes-wide", 40, seed=9)
    assert images.dtype == np.uint8 and images.shape == (40, 64, 64, 3) and masks.dtype == np.uint8
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        rng = np.random.default_rng([9, i])
        clean, clean_mask = wide.compose(rng)
        assert np.array_equal(mask, clean_mask)
        assert np.abs(image.astype(float) - clean).mean() < 40


def test_generators_are_registered_for_eval_and_training() -> None:
    assert set(NEW) <= set(GENERATORS)
