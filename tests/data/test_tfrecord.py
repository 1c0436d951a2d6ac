"""TFRecord reading, checked against files written here by an independent writer of the same schema."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from slotviewer.data import load_scenes
from slotviewer.data.tfrecord import TFRecordScenes, crc32c, decode, parse_example, read_records, split_spec
from slotviewer.errors import InputError

# --- a minimal writer: protobuf encoding of tf.train.Example and TFRecord framing -----------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_example(byte_features: dict[str, bytes], floats: dict[str, list[float]] | None = None) -> bytes:
    """Example{features{feature: map<string, Feature>}}; float features as packed FloatList (field 2)."""
    entries = b""
    for key, value in byte_features.items():
        feature = _field(1, _field(1, value))  # Feature.bytes_list{value}
        entries += _field(1, _field(1, key.encode()) + _field(2, feature))
    for key, values in (floats or {}).items():
        packed = struct.pack(f"<{len(values)}f", *values)
        feature = _field(2, _field(1, packed))  # Feature.float_list{packed value}
        entries += _field(1, _field(1, key.encode()) + _field(2, feature))
    return _field(1, entries)


def _masked(data: bytes) -> int:
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked(length)) + data + struct.pack("<I", _masked(data))


def scene(rng: np.random.Generator, h: int, w: int, entities: int) -> tuple[np.ndarray, np.ndarray]:
    """A random image and one-hot entity masks [E, H, W] (0/255), entity 0 the background."""
    labels = rng.integers(0, entities, size=(h, w))
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    masks = np.stack([(labels == e) * 255 for e in range(entities)]).astype(np.uint8)
    return image, masks


def write_file(path: Path, scenes: list[tuple[np.ndarray, np.ndarray]], layout: str = "EHW") -> Path:
    with gzip.open(path, "wb") as f:
        for image, masks in scenes:
            mask = masks[..., None] if layout == "EHW" else masks.transpose(1, 2, 0)[..., None]
            f.write(frame(encode_example({"image": image.tobytes(), "mask": mask.tobytes()},
                                         {"x": [0.5] * len(masks)})))
    return path


# --- tests ----------------------------------------------------------------------------------------


def test_crc32c_known_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value


def test_protobuf_parser_reads_bytes_features_and_skips_others() -> None:
    record = encode_example({"image": b"\x00\x01\x02", "mask": b""}, {"x": [1.0, 2.0]})
    assert parse_example(record) == {"image": [b"\x00\x01\x02"], "mask": [b""]}


def test_tetrominoes_file_round_trip_streaming(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scenes = [scene(rng, 35, 35, 4) for _ in range(5)]
    path = write_file(tmp_path / "tetrominoes_train.tfrecords", scenes)
    images, labels = TFRecordScenes("tetrominoes", path, 35).head(3)
    assert images.shape == (3, 35, 35, 3) and labels.shape == (3, 35, 35)
    for (image, masks), got_image, got_labels in zip(scenes, images, labels, strict=False):
        assert np.array_equal(got_image, image)
        assert np.array_equal(got_labels, masks.argmax(0))
    stream = TFRecordScenes("tetrominoes", path, 35).stream(holdout=2)
    after = [next(stream) for _ in range(4)]  # records 2, 3, 4, then round again to 2
    assert np.array_equal(after[0], scenes[2][0]) and np.array_equal(after[3], scenes[2][0])


def test_ranks_split_the_stream_and_a_resume_lands_on_the_same_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    scenes = [scene(rng, 35, 35, 4) for _ in range(7)]
    path = write_file(tmp_path / "t.tfrecords", scenes)
    data = TFRecordScenes("tetrominoes", path, 35)
    rank0 = data.stream(holdout=1, rank=0, world=2)
    rank1 = data.stream(holdout=1, rank=1, world=2)
    assert np.array_equal(next(rank0), scenes[1][0]) and np.array_equal(next(rank1), scenes[2][0])
    assert np.array_equal(next(rank0), scenes[3][0])
    resumed = data.stream(holdout=1, start=2, rank=0, world=2)
    assert np.array_equal(next(resumed), scenes[3][0])
    past_the_end = data.stream(holdout=1, start=8, rank=0, world=2)  # 6 training records: 8 ≡ 2
    assert np.array_equal(next(past_the_end), scenes[3][0])


def test_multi_dsprites_mask_layout_and_clevr_crop(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    image, masks = scene(rng, 64, 64, 5)
    path = write_file(tmp_path / "multi_dsprites_colored_on_colored_train.tfrecords", [(image, masks)], layout="HWE")
    name, found = split_spec(str(path))
    assert name == "multi_dsprites"
    images, labels = TFRecordScenes(name, found, 64).head(1)
    assert np.array_equal(labels[0], masks.argmax(0))
    clevr_image, clevr_masks = scene(rng, 240, 320, 11)
    record = encode_example({"image": clevr_image.tobytes(), "mask": clevr_masks[..., None].tobytes()})
    image_out, labels_out = decode(record, "clevr_with_masks", 192)
    assert np.array_equal(image_out, clevr_image[29:221, 64:256])
    assert np.array_equal(labels_out, clevr_masks.argmax(0)[29:221, 64:256])
    small, small_labels = decode(record, "clevr_with_masks", 64)
    assert small.shape == (64, 64, 3) and set(np.unique(small_labels)) <= set(range(11))


def test_corrupt_and_truncated_records_are_one_line_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    good = frame(encode_example({"image": b"\x00" * 35 * 35 * 3, "mask": b"\x00" * 35 * 35 * 4}))
    bad = bytearray(frame(encode_example({"image": scene(rng, 35, 35, 4)[0].tobytes(), "mask": b"\x00" * 4900})))
    bad[40] ^= 0xFF  # flip bits inside the data
    corrupt = tmp_path / "tetrominoes_bad.tfrecords"
    corrupt.write_bytes(good + bytes(bad))
    records = read_records(corrupt)
    next(records)
    with pytest.raises(InputError, match=r"tetrominoes_bad.tfrecords: record 1 is corrupt \(data checksum"):
        next(records)
    truncated = tmp_path / "tetrominoes_short.tfrecords"
    truncated.write_bytes(good + good[:100])
    with pytest.raises(InputError, match="record 1 is truncated"):
        list(read_records(truncated))
    wrong_size = tmp_path / "tetrominoes_size.tfrecords"
    wrong_size.write_bytes(frame(encode_example({"image": b"\x00" * 10, "mask": b"\x00" * 10})))
    with pytest.raises(InputError, match="record 0: image/mask sizes 10/10 bytes do not fit tetrominoes"):
        TFRecordScenes("tetrominoes", wrong_size, 35).head(1)


def test_unknown_file_names_need_the_data_set_named(tmp_path: Path) -> None:
    path = tmp_path / "mystery.tfrecords"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="write NAME:"):
        split_spec(str(path))
    assert split_spec(f"objects_room:{path}") == ("objects_room", path)
    assert split_spec("shapes") is None


def test_eval_and_train_read_a_tfrecord_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from slotviewer.cli import main
    from slotviewer.train import Trainer, TrainSettings
    from tests.test_train import TINY_TETROMINOES

    rng = np.random.default_rng(4)
    path = write_file(tmp_path / "tetrominoes_train.tfrecords", [scene(rng, 35, 35, 4) for _ in range(12)])
    settings = TrainSettings(dataset=str(path), out=str(tmp_path / "m"), steps=3, batch=2, warmup=1, eval_samples=4,
                             config=TINY_TETROMINOES.to_dict(), threads=1)
    trainer = Trainer(settings)
    assert trainer.val[0].shape == (4, 35, 35, 3)
    assert np.array_equal(trainer.batches(0)[0], scene_image(path, 4))  # training starts after the held-out 4
    trainer.run(final_eval=4)
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", f"tetrominoes:{path}", "--n", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 5 and np.isfinite(result["psnr_db"])
    assert load_scenes(str(path), 2, 35, 0)[0].shape == (2, 35, 35, 3)


def scene_image(path: Path, index: int) -> np.ndarray:
    return TFRecordScenes("tetrominoes", path, 35).head(index + 1)[0][index]
