"""A generated stand-in for ImageNet validation images: JPEGs and their PASCAL VOC XML boxes.

For CI and ``--quick`` runs of the follow-up pipeline (``experiments/follow_up.py``), which reads real
ImageNet images the same way (``ssvepjax.data.load_box_folder``). Each image is a smooth random
background with one to two filled ellipses of one class (a colour) and, sometimes, a distractor of
another class, none overlapping another; the XML names every object and its box.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["SYNTHETIC_CLASSES", "write_box_folder"]

#: Synset-like names of the generated classes and their colours (RGB in [0, 1]).
SYNTHETIC_CLASSES = {"n00000001": (0.9, 0.2, 0.2), "n00000002": (0.2, 0.8, 0.3), "n00000003": (0.25, 0.35, 0.95)}


def _xml(stem: str, h: int, w: int, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    objs = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
        f"<ymax>{y1}</ymax></bndbox></object>" for name, (x0, y0, x1, y1) in objects)
    return (f"<annotation><filename>{stem}</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{objs}</annotation>\n")


def write_box_folder(folder: str | os.PathLike, n: int, *, seed: int = 0, min_side: int = 64,
                     max_side: int = 112) -> list[Path]:
    """Write ``n`` JPEGs ``synthetic_{i:05d}.JPEG`` and their ``.xml`` boxes into ``folder``.

    Args:
        folder: created if missing.
        n: number of images (>= 1).
        seed: NumPy seed of sizes, positions and textures.
        min_side, max_side: range of the images' heights and widths in pixels (not square, as ImageNet's).

    Returns:
        The image paths.
    """
    from PIL import Image

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 16 <= min_side <= max_side:
        raise ValueError(f"need 16 <= min_side <= max_side, got {min_side}, {max_side}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = list(SYNTHETIC_CLASSES)
    paths = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
        coarse = rng.uniform(0.3, 0.7, (4, 4, 3))
        bg = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float32)
        img = bg / 255.0 + rng.normal(0, 0.03, (h, w, 3))
        cls = names[i % len(names)]
        placed = [(cls, o) for o in range(1 + int(rng.random() < 0.3))]
        if rng.random() < 0.5:
            placed.append((names[(i + 1) % len(names)], -1))
        yy, xx = np.mgrid[0:h, 0:w]
        objects = []
        taken: list[tuple[int, int, int, int]] = []
        for name, _ in placed:
            for _try in range(100):  # objects do not overlap, so every box holds its own object alone
                bh, bw = int(rng.integers(h // 5, h // 2)), int(rng.integers(w // 5, w // 2))
                y0, x0 = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
                if all(y0 >= b[2] or b[0] >= y0 + bh or x0 >= b[3] or b[1] >= x0 + bw for b in taken):
                    break
            else:
                continue
            taken.append((y0, x0, y0 + bh, x0 + bw))
            cy, cx, ry, rx = y0 + (bh - 1) / 2, x0 + (bw - 1) / 2, bh / 2, bw / 2
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
            img[inside] = np.asarray(SYNTHETIC_CLASSES[name]) + rng.normal(0, 0.05, (int(inside.sum()), 3))
            ys, xs = np.nonzero(inside)
            objects.append((name, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))))
        stem = f"synthetic_{i:05d}"
        path = folder / f"{stem}.JPEG"
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(path, quality=95)
        (folder / f"{stem}.xml").write_text(_xml(stem, h, w, objects))
        paths.append(path)
    return paths
