import numpy as np
import pytest

from slotviewer.data import generate, shapes, tetrominoes


@pytest.mark.parametrize("name", ["tetrominoes", "shapes"])
def test_deterministic_per_seed_and_index(name: str) -> None:
    a_img, a_mask = generate(name, 6, seed=5)
    b_img, b_mask = generate(name, 6, seed=5)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_mask, b_mask)
    tail_img, _ = generate(name, 2, seed=5, start=4)
    assert np.array_equal(tail_img, a_img[4:])
    other, _ = generate(name, 6, seed=6)
    assert not np.array_equal(other, a_img)


@pytest.mark.parametrize("name", ["tetrominoes", "shapes"])
def test_masks_match_images(name: str) -> None:
    images, masks = generate(name, 20, seed=1)
    assert images.dtype == np.uint8 and masks.dtype == np.uint8
    for image, mask in zip(images, masks, strict=True):
        background = image[mask == 0]
        assert (background == background[0]).all(), "background is one uniform colour"
        for label in range(1, mask.max() + 1):
            pixels = image[mask == label]
            assert len(pixels) > 0, "every object keeps visible pixels"
            assert (pixels == pixels[0]).all(), "each object is one flat colour"
            assert not (pixels[0] == background[0]).all()


def test_tetrominoes_follow_the_spec() -> None:
    assert len(tetrominoes.PIECES) == 19
    assert len({p.tobytes() + bytes(p.shape) for p in tetrominoes.PIECES}) == 19
    assert all(p.sum() == 4 * 25 for p in tetrominoes.PIECES)
    images, masks = generate("tetrominoes", 50, seed=2)
    assert images.shape == (50, 35, 35, 3)
    palette = {tuple(c) for c in tetrominoes.COLOURS}
    for image, mask in zip(images, masks, strict=True):
        assert set(np.unique(mask)) == {0, 1, 2, 3}
        assert (image[mask == 0] == 0).all()
        for label in (1, 2, 3):
            assert (mask == label).sum() == 100, "pieces never overlap, so each keeps all 4 cells"
            assert tuple(image[mask == label][0]) in palette


def test_shapes_follow_the_spec() -> None:
    images, masks = generate("shapes", 60, seed=3)
    assert images.shape == (60, 64, 64, 3)
    counts = [len(np.unique(m)) - 1 for m in masks]
    assert min(counts) >= shapes.MIN_OBJECTS and max(counts) <= shapes.MAX_OBJECTS
    assert len(set(counts)) > 2
    for image, mask in zip(images, masks, strict=True):
        bg = image[mask == 0][0]
        assert bg[0] == bg[1] == bg[2], "grey background"


def test_folder_dataset_keeps_palette_label_ids(tmp_path) -> None:  # noqa: ANN001
    from PIL import Image

    from slotviewer.data import FolderDataset

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "x.png")
    labels = np.zeros((8, 8), np.uint8)
    labels[2:5, 2:5] = 7
    mask = Image.fromarray(labels, mode="P")
    mask.putpalette([0, 0, 0] * 7 + [250, 10, 10] + [0, 0, 0] * 248)
    mask.save(tmp_path / "masks" / "x.png")
    data = FolderDataset(tmp_path, 8)
    assert set(np.unique(data.masks)) == {0, 7}


def test_clips_are_reproducible_consecutive_frames_of_moving_objects() -> None:
    from slotviewer.data import generate_clips

    images, masks = generate_clips("moving-shapes", 6, 4, seed=3)
    assert images.shape == (6, 4, 64, 64, 3) and masks.shape == (6, 4, 64, 64)
    again, _ = generate_clips("moving-shapes", 2, 4, seed=3, start=4)
    assert np.array_equal(again, images[4:]), "clip i depends only on (seed, i)"
    assert not np.array_equal(generate_clips("moving-shapes", 6, 4, seed=4)[0], images)
    counts = {int(m[0].max()) for m in masks}
    assert counts <= {2, 3, 4, 5} and len(counts) > 1, "object counts vary like the shapes data set's"
    for clip, mask in zip(images, masks, strict=True):
        moved = [(mask[t] != mask[t + 1]).mean() for t in range(3)]
        assert all(0 < m < 0.2 for m in moved), "objects move a little from frame to frame"
        assert (clip[0][mask[0] == 0] == clip[0][mask[0] == 0][0]).all(), "a flat background"


def test_unknown_clip_generator_names_the_choices() -> None:
    from slotviewer.data import generate_clips

    with pytest.raises(ValueError, match="moving-shapes"):
        generate_clips("shapes", 1, 2)


def test_a_moving_shapes_object_can_enter_the_scene_late() -> None:
    from slotviewer.data.moving_shapes import MovingShapes

    late, always = MovingShapes(seed=2, enter_at=5), MovingShapes(seed=2)
    for t in (0, 4):
        image, mask = late.frame(t)
        assert 3 not in mask and 3 in always.frame(t)[1]
        uncovered = (always.frame(t)[1] == 3) & (mask == 0)  # where it would be, the background shows
        assert uncovered.any() and (image[uncovered] == late.background).all()
    for t in (5, 9):
        assert np.array_equal(late.frame(t)[1], always.frame(t)[1])
        assert np.array_equal(late.frame(t)[0], always.frame(t)[0])
