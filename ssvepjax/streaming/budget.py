"""A memory budget for probing: how many bytes each recorded layer needs, and the layer groups that fit.

``probe_dataset(..., memory_budget=...)`` probes the layers of a large network in groups, each over the whole
dataset in its own pass (one more forward pass per group), so that the peak stays within the budget; the
results are those of one pass (each layer's spectra do not depend on which other layers are recorded). The
number of images vectorised per step (``images_per_step``) is chosen from what the budget leaves.

The bytes are an **estimate from shapes** (nothing is compiled), per image and per layer of ``n`` units
(float32, 4 bytes each; ``F`` frames alive at once: the frames run, or ``frame_block``; ``R`` transform rows;
``S`` rows of state per unit, ``K`` values of result per unit):

    layer(n) = 4 n (2 F + 3 R)            transient: the series, the transform's stages and rows
             + 4 n (2 S + K)              lasting: the running sums (and their update), the result
             + 4 n (4 R + 6)              per image, with frame_block: the coefficient accumulators of the image
                                          (re and im of every row, sums, peak; the scan holds them twice),
                                          alive for every layer at once while the image's blocks run

With ``granularity="filter"`` the lasting part is per filter (``n / positions``). Add the frames of one image
(``2 F H W C`` floats). The model's weights are not counted. The benchmark ``experiments/benchmark_large.py``
compares the estimate with the measured peak.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from ssvepjax.recording.adapters import flat_dict
from ssvepjax.spectral.design import Design

FLOAT = 4  # bytes of a float32


@dataclasses.dataclass(frozen=True)
class LayerSelection:
    """``fn`` restricted to some of its layers: ``frame -> {name: fn(frame)[name] for name in names}``.

    Hashable by ``(fn, names)``, so that the reductions (cached per function) compile once per group.
    """

    fn: Callable
    names: tuple[str, ...]

    def __call__(self, frame):
        out = flat_dict(self.fn(frame))
        return {k: out[k] for k in self.names}


def available_memory(device=None) -> int:
    """Bytes a probe may use on ``device`` (default: JAX's first device): free accelerator memory (the device's
    limit minus what is in use), or on a CPU the host's available memory (``/proc/meminfo``), of which 80%."""
    device = device or jax.devices()[0]
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # CPU devices and some plugins have no memory stats
        stats = None
    if stats and "bytes_limit" in stats:
        return int(0.8 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(0.8 * int(line.split()[1]) * 1024)
    except OSError:
        pass
    return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_budget(memory_budget) -> int | None:
    """``memory_budget`` as bytes: None, a positive number of bytes, or ``"auto"`` (:func:`available_memory`)."""
    if memory_budget is None:
        return None
    if memory_budget == "auto":
        return available_memory()
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, float)) or not memory_budget > 0:
        raise ValueError(f"memory_budget must be a positive number of bytes or 'auto', got {memory_budget!r}")
    return int(memory_budget)


def layer_bytes(fn: Callable, image_shape: Sequence[int], design: Design, *, one_period: bool = True,
                frame_block: int | None = None, granularity: str = "neuron", relative_bins: int = 0,
                measures: int | None = None) -> tuple[dict[str, tuple[int, int, int]], int]:
    """Estimated bytes of probing one image (module docstring): ``({layer: (transient, lasting, per_image)},
    frames)``: ``per_image`` is alive for the whole step of an image (the block accumulators), per image.

    Args:
        fn: the per-frame function.
        image_shape: ``(H, W, C)``.
        design: the analysis design.
        one_period, frame_block, granularity: as ``probe_dataset``.
        relative_bins: bins of the relative moments (2 rows of state each).
        measures: number of measures returned (each at the design's components), or None for the spectra.
    """
    tags = design.tags
    frames = tags.period_frames if one_period else tags.n_frames
    alive = frame_block or frames
    rows = frames // 2 + 2
    state = rows + 2 * relative_bins
    result = design.n_bins if measures is None else measures * len(design.bins()[0])
    shapes = {k: v.shape for k, v in flat_dict(jax.eval_shape(fn, jax.ShapeDtypeStruct(tuple(image_shape),
                                                                                            jnp.float32))).items()}
    out = {}
    for k, shape in shapes.items():
        n = math.prod(shape)
        kept = n // math.prod(shape[:-1]) if granularity == "filter" and len(shape) > 1 else n
        blocks = FLOAT * n * (4 * rows + 6) if frame_block else 0
        out[k] = (FLOAT * n * (2 * alive + 3 * rows), FLOAT * kept * (2 * state + result), blocks)
    return out, FLOAT * 2 * alive * math.prod(image_shape)


def _per_image(layers, names, frames: int) -> int:
    return frames + max(layers[k][0] for k in names) + sum(layers[k][2] for k in names)


def group_need(layers: dict[str, tuple[int, int, int]], names: Sequence[str], frames: int, images: int = 1) -> int:
    """Estimated peak of probing the layers ``names`` together, ``images`` at a time: the lasting bytes of every
    layer plus ``images`` times the frames, the largest transient (a layer's transient ends with the layer) and
    every layer's per-image bytes."""
    return sum(layers[k][1] for k in names) + images * _per_image(layers, names, frames)


def layer_groups(layers: dict[str, tuple[int, int, int]], frames: int, budget: int) -> list[tuple[str, ...]]:
    """Consecutive groups of layers (in ``layers``' order) whose :func:`group_need` fits ``budget`` bytes.

    ``ValueError`` if one layer alone does not fit: the message says how many bytes the smallest group needs.
    """
    need = {k: group_need(layers, [k], frames) for k in layers}
    worst = max(need, key=need.get)
    if need[worst] > budget:
        raise ValueError(f"memory_budget={budget} bytes ({budget / 2**30:.2f} GiB) is below what one layer of one "
                         f"image needs: the smallest group that holds layer {worst!r} needs {need[worst]} bytes "
                         f"({need[worst] / 2**30:.2f} GiB)")
    groups, current = [], []
    for k in layers:
        if current and group_need(layers, [*current, k], frames) > budget:
            groups.append(tuple(current))
            current = []
        current.append(k)
    groups.append(tuple(current))
    return groups


def images_per_step(layers: dict[str, tuple[int, int, int]], names: Sequence[str], frames: int, budget: int,
                    most: int) -> int:
    """The most images (at most ``most``, at least 1) that one step of the group ``names`` may vectorise."""
    lasting = sum(layers[k][1] for k in names)
    return int(max(1, min(most, (budget - lasting) // _per_image(layers, names, frames))))


__all__ = ["LayerSelection", "available_memory", "check_budget", "group_need", "images_per_step", "layer_bytes",
           "layer_groups"]
