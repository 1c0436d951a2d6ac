"""DeepMind multi-object data sets (tetrominoes, multi_dsprites, objects_room, clevr_with_masks) read
from their GZIP TFRecord files without TensorFlow, streaming: one record in memory at a time.

A TFRecord file is a sequence of records, each framed as
`uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)` (little endian).
Each record is a serialised `tf.train.Example` protobuf; we need only its byte features `image`
(`[H, W, C]` uint8) and `mask` (`[E, H, W, 1]` uint8, 0 or 255, entity 0 the background;
multi_dsprites stores it `[H, W, E, 1]`). The entity count follows from the byte length, so every
variant of a data set (e.g. multi_dsprites' 4/5/6 entities) reads without being named.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from slotviewer.errors import InputError

try:  # C implementation (the `crc32c` package); the pure-Python table below is ~100× slower
    from crc32c import crc32c as _crc32c_fast
except ImportError:  # pragma: no cover - exercised only without the dependency
    _crc32c_fast = None


@dataclass(frozen=True)
class Spec:
    height: int
    width: int
    mask_layout: str  # "EHW" or "HWE": where the entity axis sits in the mask bytes
    crop: tuple[int, int, int, int] | None = None  # (top, bottom, left, right) before resizing


# image sizes and layouts of the published reader scripts
SPECS: dict[str, Spec] = {
    "tetrominoes": Spec(35, 35, "EHW"),
    "multi_dsprites": Spec(64, 64, "HWE"),
    "objects_room": Spec(64, 64, "EHW"),
    "clevr_with_masks": Spec(240, 320, "EHW", crop=(29, 221, 64, 256)),  # the slot-attention paper's crop
}


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord frames use."""
    if _crc32c_fast is not None:
        return _crc32c_fast(data)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant (so CRCs of CRCs stay useful)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _open(path: Path) -> BinaryIO:
    f = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    magic = f.read(2)
    f.seek(0)
    return gzip.GzipFile(fileobj=f) if magic == b"\x1f\x8b" else f


def read_records(path: str | Path, skip: int = 0) -> Iterator[bytes]:
    """Yield the data of each record; the first `skip` are passed over without a CRC check of their data.

    A truncated or corrupt record raises `InputError` naming the file and the record's index.
    """
    path = Path(path)
    try:
        f = _open(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot open TFRecord file ({exc})") from None
    index = 0
    with f:
        try:
            while True:
                header = f.read(12)
                if not header:
                    return
                if len(header) < 12:
                    raise InputError(f"{path}: record {index} is truncated (file ends inside its header)")
                (length,) = struct.unpack("<Q", header[:8])
                if struct.unpack("<I", header[8:])[0] != masked_crc(header[:8]):
                    raise InputError(f"{path}: record {index} is corrupt (length checksum mismatch)")
                data = f.read(length)
                footer = f.read(4)
                if len(data) < length or len(footer) < 4:
                    raise InputError(f"{path}: record {index} is truncated (expected {length} bytes)")
                if index >= skip:
                    if struct.unpack("<I", footer)[0] != masked_crc(data):
                        raise InputError(f"{path}: record {index} is corrupt (data checksum mismatch)")
                    yield data
                index += 1
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path}: cannot read record {index} ({exc})") from None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of one protobuf message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("field runs past the end")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def parse_example(record: bytes) -> dict[str, list[bytes]]:
    """The bytes-list features of a serialised `tf.train.Example` (float and int64 lists are skipped).

    Example { Features features = 1 } · Features { map<string, Feature> feature = 1 } ·
    Feature { oneof { BytesList bytes_list = 1; FloatList = 2; Int64List = 3 } } ·
    BytesList { repeated bytes value = 1 }
    """
    out: dict[str, list[bytes]] = {}
    for number, wire, features in _fields(record):
        if number != 1 or wire != 2:
            continue
        for entry_number, entry_wire, entry in _fields(features):  # map entries
            if entry_number != 1 or entry_wire != 2:
                continue
            key, value = "", b""
            for n, w, v in _fields(entry):
                if n == 1 and w == 2:
                    key = bytes(v).decode("utf-8")
                elif n == 2 and w == 2:
                    value = v
            for kind, kind_wire, payload in _fields(value):
                if kind == 1 and kind_wire == 2:
                    out[key] = [bytes(v) for n, w, v in _fields(payload) if n == 1 and w == 2]
    return out


def split_spec(text: str) -> tuple[str, Path] | None:
    """`NAME:PATH`, or a path to an existing `.tfrecord(s)` file whose name contains a known data set
    name → (name, path); anything else → None (not a TFRecord data set)."""
    name, sep, rest = text.partition(":")
    if sep and name in SPECS:
        return name, Path(rest)
    path = Path(text)
    if ".tfrecord" in path.name or (path.is_file() and path.suffix in (".gz", ".tfrecords", ".tfrecord")):
        for known in SPECS:
            if known in path.name:
                return known, path
        raise InputError(f"{path}: cannot tell which data set this is; write NAME:{path} with NAME one of "
                         f"{', '.join(SPECS)}")
    return None


def decode(record: bytes, name: str, resolution: int, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """One record → (image `[R, R, 3]` uint8, labels `[R, R]` uint8; 0 = background entity)."""
    spec = SPECS[name]
    try:
        features = parse_example(record)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not a tf.train.Example ({exc})") from None
    if "image" not in features or "mask" not in features:
        raise InputError(f"{where}: the record has no 'image' and 'mask' byte features (found {sorted(features)})")
    pixels = spec.height * spec.width
    image_bytes, mask_bytes = features["image"][0], features["mask"][0]
    if len(image_bytes) % pixels or len(mask_bytes) % pixels:
        raise InputError(f"{where}: image/mask sizes {len(image_bytes)}/{len(mask_bytes)} bytes do not fit "
                         f"{name}'s {spec.height}×{spec.width}")
    channels, entities = len(image_bytes) // pixels, len(mask_bytes) // pixels
    image = np.frombuffer(image_bytes, np.uint8).reshape(spec.height, spec.width, channels)
    if channels == 1:  # multi_dsprites 'binarized'
        image = np.repeat(image, 3, axis=2)
    mask = np.frombuffer(mask_bytes, np.uint8)
    if spec.mask_layout == "HWE":
        mask = mask.reshape(spec.height, spec.width, entities).transpose(2, 0, 1)
    else:
        mask = mask.reshape(entities, spec.height, spec.width)
    labels = mask.argmax(axis=0).astype(np.uint8)  # masks are 0/255; entity 0 is the background
    if spec.crop is not None:
        top, bottom, left, right = spec.crop
        image, labels = image[top:bottom, left:right], labels[top:bottom, left:right]
    if image.shape[:2] != (resolution, resolution):
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((resolution, resolution),
                                                                              Image.BILINEAR))
        labels = np.asarray(Image.fromarray(np.ascontiguousarray(labels)).resize((resolution, resolution),
                                                                                Image.NEAREST))
    return image, labels


class TFRecordScenes:
    """Scenes of one TFRecord file at one resolution, read as a stream.

    `head(n)` are the first n scenes (the validation set); `stream(skip, rank, world)` cycles through
    the rest forever, scene i going to rank `i % world`, so DDP ranks see disjoint scenes.
    """

    def __init__(self, name: str, path: str | Path, resolution: int) -> None:
        if name not in SPECS:
            raise InputError(f"{name}: unknown TFRecord data set; choose from {', '.join(SPECS)}")
        self.name, self.path, self.resolution = name, Path(path), resolution
        if not self.path.is_file():
            raise InputError(f"{self.path}: TFRecord file not found")

    def _decode(self, record: bytes, index: int) -> tuple[np.ndarray, np.ndarray]:
        return decode(record, self.name, self.resolution, f"{self.path}: record {index}")

    def head(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for index, record in enumerate(read_records(self.path)):
            if index >= n:
                break
            image, label = self._decode(record, index)
            images.append(image)
            labels.append(label)
        if not images:
            raise InputError(f"{self.path}: no records")
        return np.stack(images), np.stack(labels)

    def stream(self, holdout: int = 0, start: int = 0, rank: int = 0, world: int = 1) -> Iterator[np.ndarray]:
        """Images after the first `holdout` records (the validation scenes), from training record `start`
        on, this rank's share (record i → rank `i % world`), cycling forever. A resumed run passes the
        records it already consumed as `start` (a multiple of `world`) and sees the same stream."""
        first = holdout + start
        while True:
            seen = 0
            for index, record in enumerate(read_records(self.path, skip=first), start=first):
                seen += 1
                if (index - holdout) % world == rank:
                    yield self._decode(record, index)[0]
            if not seen:
                total = sum(1 for _ in read_records(self.path)) - holdout
                if total <= 0:
                    raise InputError(f"{self.path}: no records after the first {holdout} (the validation scenes)")
                if first - holdout >= total:  # a resumed run past the first epoch
                    first = holdout + (first - holdout) % total
                    continue
            first = holdout
