"""expand's local fill: the new border synthesised from patches of the photo itself (image quilting).

Image quilting (Efros & Freeman, SIGGRAPH 2001), outward from the original: the border is covered by square blocks
that overlap the pixels already there (the original's edge, then earlier blocks); for each block, the patch of the
photo whose overlap matches best (OpenCV's masked template matching, sum of squared differences) is copied in, and a
minimum-error boundary cut through the overlap decides where the new patch takes over, so the seam runs where the
two agree. Left and right strips are filled first over the original's rows, then top and bottom across the whole
width, corners included. The original's pixels are never changed.

Patches come from near the edge they continue (within one block of it, and a few blocks along it, with a penalty for
distance), so a wall continues as wall and a sky as sky, and a subject in the middle is not copied into the border.
Among the near-best matches one is picked with a fixed seed, so a strip does not repeat one patch and the same input
always gives the same output.

Last, each strip's colours are offset along its seam to the edge's own (a patch from further inside a vignette or a
sky's gradient is brighter or darker than the edge), the offset fading with the distance.

The search runs on a copy of at most WORK_PIXELS (the cost is bounded whatever the size); the chosen patches are then
copied from the full-resolution photo, so the border has the photo's own sharpness and grain.

It continues texture (grass, gravel, wood, fabric, foliage, skies, walls) and cannot invent: an object cut by the
frame is continued by pieces of what lies along that edge, not completed, and perspective lines do not carry on.
"""
from __future__ import annotations

import cv2
import numpy as np

WORK_PIXELS = 300_000  # the search's canvas, at most; ~0.6 s of matching on one core
PATCH, OVERLAP = 32, 8  # at the working resolution
BAND = 1  # patches come from within this many blocks of the edge they continue ...
RADIUS = 4  # ... and this many blocks along it
LOCALITY = 30.0  # the penalty, in mean squared error, per (block of distance)^2 from the block's own place
TOLERANCE = 0.15  # a match within this fraction of the best may be picked
SEED = 1234


def plan(rgb: np.ndarray, pad: dict[str, int]) -> tuple[list[tuple], int]:
    """The blocks in fill order, each (y, x, sy, sx, weight): where it goes on the grown canvas, where its patch
    comes from in `rgb`, and the patch's weight over what is already there (0 on the original, 1 on new pixels,
    soft along the cut); and the blocks' size."""
    h, w = rgb.shape[:2]
    size = min(PATCH, h, w)
    step = max(1, size - min(OVERLAP, size // 4))  # a thin image's small blocks overlap less: their count stays bounded
    height, width = h + pad["top"] + pad["bottom"], w + pad["left"] + pad["right"]
    top, left = pad["top"], pad["left"]
    canvas = np.zeros((height, width, 3), np.float32)
    known = np.zeros((height, width), bool)
    source = rgb.astype(np.float32)
    canvas[top:top + h, left:left + w] = source
    known[top:top + h, left:left + w] = True
    original = known.copy()
    rng = np.random.default_rng(SEED)
    reach, band = RADIUS * size, BAND * size
    steps, sides_done = [], False
    for y, x in _blocks(pad, h, w, height, width, size, step):
        if (y < top or y + size > top + h) and not sides_done:
            original[top:top + h] = sides_done = True  # the side strips are done: the top and bottom leave them be
        have = known[y:y + size, x:x + size]
        if have.all():
            continue
        # Where the block sits relative to the original, clamped into it: its patch is looked for around there.
        my, mx = int(np.clip(y - top, 0, h - size)), int(np.clip(x - left, 0, w - size))
        y0, y1, x0, x1 = max(0, my - reach), min(h - size, my + reach), max(0, mx - reach), min(w - size, mx + reach)
        if x < left:
            x1 = min(x1, band)
        elif x + size > left + w:
            x0 = max(x0, w - size - band)
        if y < top:
            y1 = min(y1, band)
        elif y + size > top + h:
            y0 = max(y0, h - size - band)
        x0, y0 = min(x0, x1), min(y0, y1)
        mask = np.repeat(have[..., None], 3, axis=2).astype(np.float32)
        ssd = cv2.matchTemplate(source[y0:y1 + size, x0:x1 + size], canvas[y:y + size, x:x + size], cv2.TM_SQDIFF,
                                mask=mask)
        ys = np.arange(y0, y1 + 1, dtype=np.float32)[:, None]
        xs = np.arange(x0, x1 + 1, dtype=np.float32)[None, :]
        cost = ssd / (3 * int(have.sum())) + LOCALITY * (((ys - my) / size) ** 2 + ((xs - mx) / size) ** 2)
        best = float(cost.min())
        near_best = np.flatnonzero(cost.ravel() <= best + TOLERANCE * max(best, 1.0))
        iy, ix = np.unravel_index(int(near_best[rng.integers(near_best.size)]), cost.shape)
        sy, sx = y0 + int(iy), x0 + int(ix)
        patch = source[sy:sy + size, sx:sx + size]
        region = canvas[y:y + size, x:x + size]
        weight = _weight(((region - patch) ** 2).sum(axis=2), have, original[y:y + size, x:x + size])
        region += (patch - region) * weight[..., None]
        known[y:y + size, x:x + size] = True
        steps.append((y, x, sy, sx, weight))
    return steps, size


def _blocks(pad: dict[str, int], h: int, w: int, height: int, width: int, size: int, step: int) -> list[tuple]:
    """(y, x) of the blocks in fill order: the left and right strips over the original's rows, ring by ring
    outward, then the top and bottom strips over the whole width."""
    top, left = pad["top"], pad["left"]
    rows = list(range(top, top + h - size, step)) + [max(top, top + h - size)]
    columns = list(range(0, width - size, step)) + [max(0, width - size)]
    blocks = []
    # Ring k's block edge: k steps out from the original, overlapping what is already there by OVERLAP.
    rings = {"left": lambda k: max(0, left - step * k), "right": lambda k: min(width - size, left + w - size + step * k),
             "top": lambda k: max(0, top - step * k), "bottom": lambda k: min(height - size, top + h - size + step * k)}
    limits = {"left": 0, "right": width - size, "top": 0, "bottom": height - size}
    for side, ring in rings.items():
        k = 1
        while pad[side]:
            at = ring(k)
            blocks += [(a, at) for a in rows] if side in ("left", "right") else [(at, a) for a in columns]
            if at == limits[side]:
                break
            k += 1
    return blocks


def _weight(error: np.ndarray, have: np.ndarray, original: np.ndarray) -> np.ndarray:
    """The new patch's weight in its block: 1 on new pixels; in the overlap, 0 beyond the minimum-error cut along
    each side that is already filled, softened by a pixel; 0 on the original's pixels, always."""
    keep = np.zeros(have.shape, bool)
    for turn in range(4):  # each side in turn, rotated to the left
        e, k = np.rot90(error, turn), np.rot90(have, turn)
        filled = k.all(axis=0)
        depth = filled.size if filled.all() else int(np.argmin(filled))
        if depth >= 2:
            cut = _cut(e[:, :depth])
            keep |= np.rot90(np.arange(k.shape[1])[None, :] < cut[:, None], -turn)
    weight = cv2.GaussianBlur((~keep).astype(np.float32), (0, 0), 1.0)
    weight[~have] = 1.0
    weight[original] = 0.0
    return weight


def _cut(error: np.ndarray) -> np.ndarray:
    """Per row, the column of the cheapest 8-connected path from top to bottom through `error` (dynamic
    programming, as in image quilting)."""
    total = error.astype(np.float64)
    for r in range(1, total.shape[0]):
        prev = total[r - 1]
        total[r] += np.minimum(prev, np.minimum(np.r_[np.inf, prev[:-1]], np.r_[prev[1:], np.inf]))
    path = np.empty(total.shape[0], int)
    path[-1] = int(np.argmin(total[-1]))
    for r in range(total.shape[0] - 2, -1, -1):
        lo = max(0, path[r + 1] - 1)
        path[r] = lo + int(np.argmin(total[r, lo:path[r + 1] + 2]))
    return path


def fill(image: np.ndarray, pad: dict[str, int]) -> np.ndarray:
    """`image` (H, W, C uint8; RGB first) on a canvas grown by `pad`, the new border synthesised from its patches
    (all channels copied, the colours matched); the original's pixels unchanged."""
    h, w = image.shape[:2]
    height, width = h + pad["top"] + pad["bottom"], w + pad["left"] + pad["right"]
    factor = max(1.0, (height * width / WORK_PIXELS) ** 0.5)
    small, small_pad = image[..., :3], pad
    if factor > 1:
        small = cv2.resize(small, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
        small_pad = {side: round(value / factor) for side, value in pad.items()}
    steps, size = plan(np.ascontiguousarray(small), small_pad)
    scale_y, scale_x = h / small.shape[0], w / small.shape[1]
    out = np.zeros((height, width, image.shape[2]), np.uint8)
    known = np.zeros((height, width), bool)
    top, left = pad["top"], pad["left"]
    out[top:top + h, left:left + w] = image
    known[top:top + h, left:left + w] = True
    for y, x, sy, sx, weight in steps:
        Y, X = round(y * scale_y), round(x * scale_x)
        SY, SX = round(sy * scale_y), round(sx * scale_x)
        full_h, full_w = round((y + size) * scale_y) - Y, round((x + size) * scale_x) - X
        ph, pw = min(full_h, height - Y, h - SY), min(full_w, width - X, w - SX)
        if ph <= 0 or pw <= 0:
            continue
        if weight.shape != (full_h, full_w):
            weight = cv2.resize(weight, (full_w, full_h), interpolation=cv2.INTER_LINEAR)
        wgt = weight[:ph, :pw].copy()
        wgt[~known[Y:Y + ph, X:X + pw]] = 1.0  # the full-size block's rim may reach pixels still empty
        region = out[Y:Y + ph, X:X + pw].astype(np.float32)
        region += (image[SY:SY + ph, SX:SX + pw].astype(np.float32) - region) * wgt[..., None]
        out[Y:Y + ph, X:X + pw] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
        known[Y:Y + ph, X:X + pw] = True
    if not known.all():  # a pixel the rounding left out, along the canvas' rim: its nearest filled neighbour
        out = _nearest(out, known)
    out[top:top + h, left:left + w] = image
    _match_edges(out, pad, (h, w), fade=2 * size * max(scale_x, scale_y))
    out[top:top + h, left:left + w] = image  # exactly, last
    return out


def _match_edges(out: np.ndarray, pad: dict[str, int], shape: tuple[int, int], fade: float) -> None:
    """In place: each new strip's colours offset so that, along the seam, its mean matches the edge it continues
    (a patch from further inside a vignette or a sky's gradient is brighter or darker than the edge); the offset is
    smoothed along the seam and fades out with the distance from it. Left and right first, then top and bottom."""
    h, w = shape
    top, left = pad["top"], pad["left"]
    ring = 2
    rows = slice(top, top + h)
    sides = (("left", out[rows, :left][:, ::-1], out[rows, left:left + ring]),
             ("right", out[rows, left + w:], out[rows, left + w - ring:left + w][:, ::-1]),
             ("top", out[:top][::-1].transpose(1, 0, 2), out[top:top + ring].transpose(1, 0, 2)),
             ("bottom", out[top + h:].transpose(1, 0, 2), out[top + h - ring:top + h][::-1].transpose(1, 0, 2)))
    for side, strip, edge in sides:  # strip and edge: (along the seam, away from it, channels), views into out
        depth = strip.shape[1]
        if not pad[side] or depth == 0:
            continue
        near = min(ring, depth)
        offset = edge[:, :near].astype(np.float32).mean(axis=1) - strip[:, :near].astype(np.float32).mean(axis=1)
        offset = cv2.GaussianBlur(offset[:, None, :], (0, 0), sigmaX=0.1, sigmaY=max(1.0, fade / 4))[:, 0, :] \
            if offset.shape[0] > 1 else offset
        weight = np.exp(-np.arange(depth, dtype=np.float32) / max(1.0, fade))
        corrected = strip.astype(np.float32) + offset[:, None, :] * weight[None, :, None]
        strip[...] = np.clip(corrected + 0.5, 0, 255).astype(np.uint8)


def _nearest(out: np.ndarray, known: np.ndarray) -> np.ndarray:
    _, labels = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(known)
    index = np.zeros(labels.max() + 1, np.int64)
    flat = labels[known]
    index[flat] = ys * out.shape[1] + xs
    return out.reshape(-1, out.shape[2])[index[labels]].reshape(out.shape)
