"""HEIC/HEIF and AVIF from their ISO-BMFF header alone: which one a file is, and its size in pixels.

The API's zip functions run on Lambda's python3.11 runtime (Amazon Linux 2, glibc 2.26), where pillow-heif has no
wheel; the container worker (Amazon Linux 2023) has it. So a zip function recognises a HEIC from its `ftyp` box and
reads its dimensions from the `ispe` properties (and `irot`, a quarter turn) without decoding it, and the worker
decodes it under the same limits (docs/api.md, "What images are accepted"). AVIF needs none of this: Pillow's own
wheel decodes it everywhere.
"""
from __future__ import annotations

import struct

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}  # boxes to descend into, and the bytes before their children
_MAX_BOXES = 10_000  # a hostile file cannot make the walk long


def brands(data: bytes) -> set[bytes]:
    """The ftyp box's major and compatible brands (empty when the file does not start with one)."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return set()
    size = struct.unpack(">I", data[:4])[0]
    if size < 16 or size > min(len(data), 4096):
        return set()
    return {data[8:12]} | {data[i:i + 4] for i in range(16, size - 3, 4)}


def kind(data: bytes) -> str | None:
    """"AVIF" or "HEIF" by the file's brands (AVIF first: an AVIF also names mif1), else None."""
    found = brands(data)
    if found & AVIF_BRANDS:
        return "AVIF"
    if found & HEIF_BRANDS:
        return "HEIF"
    return None


def _boxes(data: bytes, start: int, end: int, budget: list[int]):
    pos = start
    while pos + 8 <= end:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError("too many boxes")
        size, box = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise ValueError("a box ends early")
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"the {box!r} box runs past its parent")
        yield box, pos + header, pos + size
        pos += size


def dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) of the largest image the header declares (`ispe`), turned a quarter when an `irot` says so;
    ValueError when the header holds none or is malformed. The largest, not the primary item's: a limit checked
    against it holds for every image in the file."""
    sizes: list[tuple[int, int]] = []
    quarter_turn = False
    budget = [_MAX_BOXES]

    def walk(start: int, end: int) -> None:
        nonlocal quarter_turn
        for box, body, box_end in _boxes(data, start, end, budget):
            if box in _CONTAINERS:
                walk(body + _CONTAINERS[box], box_end)
            elif box == b"ispe" and box_end - body >= 12:
                sizes.append(struct.unpack(">II", data[body + 4:body + 12]))
            elif box == b"irot" and box_end > body:
                quarter_turn = quarter_turn or bool(data[body] & 1)

    walk(0, len(data))
    if not sizes:
        raise ValueError("no image size (ispe) in the header")
    width, height = max(sizes, key=lambda size: size[0] * size[1])
    return (height, width) if quarter_turn else (width, height)
