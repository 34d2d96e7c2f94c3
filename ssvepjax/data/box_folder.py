"""Images with object boxes from a folder, as ImageNet ships its validation set (JPEGs and PASCAL VOC XML).

ImageNet's localisation annotations (``ILSVRC2012_bbox_val_*.tar.gz``; also LOC_val_solution in the Kaggle
release, converted) are one PASCAL VOC XML file per image::

    <annotation><filename>ILSVRC2012_val_00000001</filename>
      <size><width>500</width><height>375</height><depth>3</depth></size>
      <object><name>n01751748</name>
        <bndbox><xmin>111</xmin><ymin>108</ymin><xmax>441</xmax><ymax>351</ymax></bndbox></object>
    </annotation>

:func:`read_voc_boxes` parses one; :func:`load_box_folder` pairs every image of a folder with the XML file
of the same stem (in the folder or in ``annotations``), resizes the image to ``size x size`` (no crop, so a
box maps to the resized image by scaling its corners) and returns the images in [0, 1] with one half-open
box per image ``(y0, x0, y1, x1)`` in resized pixels: the smallest box that holds every object of the image's
first-named class (an image with several instances of its class keeps all of them inside). Boxes follow
VOC's corner convention ``xmin <= x <= xmax`` of 0-based pixels; ``xmax + 1`` closes them.
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

__all__ = ["BoxFolder", "VocObject", "load_box_folder", "read_voc_boxes", "IMAGE_SUFFIXES"]

#: File suffixes read as images by ``load_box_folder``.
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclasses.dataclass(frozen=True)
class VocObject:
    """One annotated object: its class name (an ImageNet synset such as ``n01751748``) and VOC corners."""

    name: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclasses.dataclass(frozen=True)
class BoxFolder:
    """Images of a folder with their object boxes.

    Attributes:
        images: ``[N, size, size, 3]`` float32 in [0, 1] (RGB).
        boxes: ``[N, 4]`` int, half-open ``(y0, x0, y1, x1)`` in resized pixels.
        classes: ``N`` class names (the first object's name in each XML file).
        names: ``N`` file stems, sorted.
        original_sizes: ``[N, 2]`` ``(height, width)`` before resizing.
    """

    images: np.ndarray
    boxes: np.ndarray
    classes: tuple[str, ...]
    names: tuple[str, ...]
    original_sizes: np.ndarray


def _int(node, tag: str, path) -> int:
    el = node.find(tag)
    if el is None or el.text is None:
        raise ValueError(f"annotation {path} has no <{tag}>")
    try:
        return int(round(float(el.text)))
    except ValueError:
        raise ValueError(f"annotation {path}: <{tag}> is not a number: {el.text!r}") from None


def read_voc_boxes(path: str | os.PathLike) -> tuple[tuple[int, int], list[VocObject]]:
    """Image size and objects of one PASCAL VOC / ImageNet XML annotation.

    Returns:
        ``((height, width), [VocObject, ...])``; ``ValueError`` naming the file for a missing size, no
        object, a non-numeric corner or a box outside the image.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"annotation {path} is not valid XML: {e}") from None
    size = root.find("size")
    if size is None:
        raise ValueError(f"annotation {path} has no <size>")
    h, w = _int(size, "height", path), _int(size, "width", path)
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        name = obj.findtext("name")
        if box is None or not name:
            raise ValueError(f"annotation {path}: every <object> needs a <name> and a <bndbox>")
        o = VocObject(name.strip(), *(_int(box, t, path) for t in ("xmin", "ymin", "xmax", "ymax")))
        if not (0 <= o.xmin <= o.xmax <= w and 0 <= o.ymin <= o.ymax <= h and o.xmin < w and o.ymin < h):
            raise ValueError(f"annotation {path}: box {o} lies outside the {w} x {h} image")
        objects.append(o)
    if not objects:
        raise ValueError(f"annotation {path} has no <object>")
    return (h, w), objects


def _resized_box(objects: list[VocObject], hw: tuple[int, int], size: int) -> tuple[str, np.ndarray]:
    cls = objects[0].name
    own = [o for o in objects if o.name == cls]
    h, w = hw
    y0 = min(o.ymin for o in own) * size / h
    x0 = min(o.xmin for o in own) * size / w
    y1 = (max(o.ymax for o in own) + 1) * size / h
    x1 = (max(o.xmax for o in own) + 1) * size / w
    b = np.array([np.floor(y0), np.floor(x0), np.ceil(y1), np.ceil(x1)], np.int64)
    b = np.clip(b, 0, size)
    b[2:] = np.maximum(b[2:], b[:2] + 1)  # at least one pixel: y0 < size since ymin < height
    return cls, b


def load_box_folder(folder: str | os.PathLike, size: int, *, annotations: str | os.PathLike | None = None,
                    limit: int | None = None) -> BoxFolder:
    """Every image of ``folder`` that has an annotation, resized to ``size x size``, with its box.

    Args:
        folder: a folder of ``.JPEG`` / ``.jpg`` / ``.png`` images.
        size: side of the resized (square) images, e.g. 224.
        annotations: folder of the ``<stem>.xml`` files (default: ``folder`` itself).
        limit: keep the first ``limit`` images in sorted order.

    Returns:
        A :class:`BoxFolder`. ``ValueError`` when the folder is missing, holds no annotated image, or an
        image has no annotation file.
    """
    from PIL import Image

    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    folder = Path(folder)
    ann = Path(annotations) if annotations is not None else folder
    if not folder.is_dir():
        raise ValueError(f"folder {folder} is not a directory")
    if not ann.is_dir():
        raise ValueError(f"annotations {ann} is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    files = files[:limit] if limit else files
    images, boxes, classes, sizes = [], [], [], []
    for f in files:
        xml = ann / f"{f.stem}.xml"
        if not xml.exists():
            raise ValueError(f"image {f.name} has no annotation {xml}")
        hw, objects = read_voc_boxes(xml)
        with Image.open(f) as im:
            im = im.convert("RGB")
            if (im.height, im.width) != hw:
                raise ValueError(f"image {f.name} is {im.width} x {im.height} but {xml.name} says {hw[1]} x {hw[0]}")
            images.append(np.asarray(im.resize((size, size), Image.BILINEAR), np.float32) / 255.0)
        cls, box = _resized_box(objects, hw, size)
        boxes.append(box)
        classes.append(cls)
        sizes.append(hw)
    return BoxFolder(np.stack(images), np.stack(boxes), tuple(classes), tuple(f.stem for f in files),
                     np.asarray(sizes, np.int64))
