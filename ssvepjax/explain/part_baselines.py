"""The part attributions users know, to compare tag attribution with: occlusion, Shapley, IG, gradient x input.

All take the same arguments as ``attribution.tag_attribution`` (a batched ``logits_fn``, images, part masks,
the target class and the output kind) and return ``[N, P]``: one number per image and part, in output
units. A part is "removed" by setting its pixels to ``baseline`` (0: black, the background of the digit
tasks); pixels outside every part are never changed.

- :func:`occlusion`: ``f(x) - f(x without part p)``; ``P + 1`` forward passes per image.
- :func:`shapley`: exact Shapley values of the P parts as players, ``v(S) = f(x with only the parts in S)``;
  ``2 ** P`` forward passes (P <= 4 here: 16 passes).
- :func:`integrated_gradients`: Sundararajan et al. (2017) from ``baseline`` to the image, ``steps`` midpoint
  Riemann steps, summed over each part's pixels; ``steps`` forward and ``steps`` backward passes.
- :func:`gradient_x_input`: the gradient at the image times ``(x - baseline)``, summed over each part; one
  forward and one backward pass.

For an output additive in the parts, ``f(x) = b + sum_p h_p(x_p)``, occlusion and Shapley both give
``h_p(x_p) - h_p(baseline)``; for a linear one all four equal ``a_p . (x_p - baseline)`` (the tests check it).

:func:`part_attributions` runs several methods (and tag attribution) and records each one's cost: forward
and backward passes per image and the measured seconds (after a warm-up call, so compilation is left out).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax import _checks as V
from ssvepjax.explain.attribution import OUTPUTS, check_target, output_value, tag_attribution
from ssvepjax.tagging.frames import check_image
from ssvepjax.tagging.masks import check_masks

__all__ = ["MAX_SHAPLEY_PARTS", "PART_METHODS", "gradient_x_input", "integrated_gradients", "occlusion",
           "part_attributions", "shapley"]

#: Attribution methods of ``part_attributions``: the tag attribution and its baselines.
PART_METHODS = ("tag", "occlusion", "shapley", "integrated_gradients", "gradient_x_input")
#: Exact Shapley values run ``2**P`` forward passes: at most this many parts.
MAX_SHAPLEY_PARTS = 4


def _prepare(logits_fn, images, masks, target, output):
    check_image(images, "images", "N, H, W, C")
    n, h, w, c = np.shape(images)
    m = check_masks(masks, h, w)
    V.check_choice("output", output, OUTPUTS)
    n_out = jax.eval_shape(logits_fn, jax.ShapeDtypeStruct((1, h, w, c), jnp.float32)).shape[-1]
    return np.asarray(images, np.float32), m, check_target(target, n, n_out)


def _value(logits_fn, x, t, output):
    return output_value(logits_fn(x), t, output)


@functools.lru_cache(maxsize=32)
def _coalition_program(logits_fn, keep_bytes, shape, output, baseline):
    keep = jnp.asarray(np.frombuffer(keep_bytes, np.float32).reshape(shape))  # [S, H, W, 1]

    @jax.jit
    def run(xb, tb):
        xs = xb[:, None] * keep[None] + baseline * (1.0 - keep[None])  # [n, S, H, W, C]
        flat = xs.reshape(-1, *xs.shape[2:])
        return _value(logits_fn, flat, jnp.repeat(tb, shape[0]), output).reshape(xb.shape[0], -1)

    return run


def _coalition_values(logits_fn, x, m, t, output, baseline, coalitions):
    """``[N, S]`` output with only the parts of each coalition (rows of ``coalitions [S, P]``) present."""
    keep = np.asarray(coalitions, np.float32) @ m.reshape(m.shape[0], -1).astype(np.float32)
    keep = (keep + (~m.any(0)).reshape(-1)).reshape(len(coalitions), *m.shape[1:], 1).astype(np.float32)
    run = _coalition_program(logits_fn, keep.tobytes(), keep.shape, output, float(baseline))
    return np.asarray(run(jnp.asarray(x), jnp.asarray(t)), np.float64)


def occlusion(logits_fn: Callable, images, masks, target, *, output: str = "logit", baseline: float = 0.0
              ) -> np.ndarray:
    """``[N, P]``: the output's drop when part p is set to ``baseline`` (``P + 1`` forward passes per image)."""
    x, m, t = _prepare(logits_fn, images, masks, target, output)
    p = m.shape[0]
    coalitions = np.concatenate([np.ones((1, p)), 1.0 - np.eye(p)])
    v = _coalition_values(logits_fn, x, m, t, output, baseline, coalitions)
    return v[:, :1] - v[:, 1:]


def shapley(logits_fn: Callable, images, masks, target, *, output: str = "logit", baseline: float = 0.0
            ) -> np.ndarray:
    """``[N, P]`` exact Shapley values of the parts (``2 ** P`` forward passes per image, ``P <= 4``)."""
    p = int(np.shape(masks)[0]) if np.ndim(masks) == 3 else 0
    if p > MAX_SHAPLEY_PARTS:
        raise ValueError(f"masks: exact Shapley values need 2**P passes; at most {MAX_SHAPLEY_PARTS} parts, got {p}")
    x, m, t = _prepare(logits_fn, images, masks, target, output)
    coalitions = np.array(list(itertools.product((0, 1), repeat=p)), np.float64)  # [2^P, P]
    v = _coalition_values(logits_fn, x, m, t, output, baseline, coalitions)
    index = {tuple(int(b) for b in row): i for i, row in enumerate(coalitions)}
    phi = np.zeros((len(x), p))
    for row, i in index.items():
        s = sum(row)
        for q in range(p):
            if row[q]:
                continue
            with_q = list(row)
            with_q[q] = 1
            weight = math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p)
            phi[:, q] += weight * (v[:, index[tuple(with_q)]] - v[:, i])
    return phi


def _part_sums(maps, m):
    """``[N, P]``: ``maps [N, H, W, C]`` summed over each part's pixels and the channels."""
    return np.einsum("nhwc,phw->np", np.asarray(maps, np.float64), m.astype(np.float64))


def _grad_fn(logits_fn, output):
    def total(x, t):
        return _value(logits_fn, x, t, output).sum()
    return jax.grad(total)


@functools.lru_cache(maxsize=32)
def _ig_program(logits_fn, output, baseline, steps):
    grad = _grad_fn(logits_fn, output)
    alphas = jnp.asarray((np.arange(steps) + 0.5) / steps, jnp.float32)

    @jax.jit
    def run(xb, tb):
        def at(a):
            return grad(baseline + a * (xb - baseline), tb)
        return jax.lax.map(at, alphas).mean(0) * (xb - baseline)

    return run


@functools.lru_cache(maxsize=32)
def _grad_program(logits_fn, output):
    return jax.jit(_grad_fn(logits_fn, output))


def integrated_gradients(logits_fn: Callable, images, masks, target, *, output: str = "logit",
                         baseline: float = 0.0, steps: int = 16) -> np.ndarray:
    """``[N, P]`` integrated gradients from ``baseline`` (midpoint rule, ``steps`` steps) summed over each part."""
    V.check_positive("steps", steps, integer=True)
    x, m, t = _prepare(logits_fn, images, masks, target, output)
    run = _ig_program(logits_fn, output, float(baseline), int(steps))
    return _part_sums(run(jnp.asarray(x), jnp.asarray(t)), m)


def gradient_x_input(logits_fn: Callable, images, masks, target, *, output: str = "logit",
                     baseline: float = 0.0) -> np.ndarray:
    """``[N, P]`` gradient at the image times ``(x - baseline)``, summed over each part."""
    x, m, t = _prepare(logits_fn, images, masks, target, output)
    grad = _grad_program(logits_fn, output)
    return _part_sums(np.asarray(grad(jnp.asarray(x), jnp.asarray(t))) * (x - baseline), m)


def _passes(method: str, n_parts: int, steps: int, tags) -> tuple[int, int]:
    if method == "tag":
        return tags.period_frames, 0
    return {"occlusion": (n_parts + 1, 0), "shapley": (2 ** n_parts, 0), "integrated_gradients": (steps, steps),
            "gradient_x_input": (1, 1)}[method]


def part_attributions(
    methods: Sequence[str],
    logits_fn: Callable,
    images,
    masks,
    target,
    *,
    tags=None,
    output: str = "logit",
    baseline: float = 0.0,
    steps: int = 16,
    batch_size: int = 8,
) -> dict:
    """Several part attributions of the same outputs, with their costs.

    Args:
        methods: names from :data:`PART_METHODS` (``"tag"`` is ``attribution.tag_attribution``'s ``signed``).
        logits_fn, images, masks, target, output: as in ``tag_attribution``.
        tags: the tag design of ``"tag"`` (default ``attribution_tags(P)``).
        baseline: the value a removed part takes (occlusion, Shapley, and the IG / gradient x input reference).
        steps: integrated-gradients steps.
        batch_size: images per call.

    Returns:
        ``{method: {"values": [N, P], "forward_passes": per image, "backward_passes": per image, "seconds": total
        measured time for the N images (compiled beforehand)}}``; ``"tag"`` also holds ``"attribution"`` (the
        :class:`~ssvepjax.explain.attribution.PartAttribution`).
    """
    methods = tuple(methods)
    bad = [m for m in methods if m not in PART_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must name some of {PART_METHODS}, got {methods!r}")
    x, m, t = _prepare(logits_fn, images, masks, target, output)
    p = m.shape[0]
    if tags is None and "tag" in methods:
        from ssvepjax.explain.attribution import attribution_tags

        tags = attribution_tags(p)
    V.check_positive("batch_size", batch_size, integer=True)

    def call(method, xb, tb):
        if method == "tag":
            return tag_attribution(logits_fn, xb, m, tb, tags, output=output, batch_size=batch_size)
        if method == "occlusion":
            return occlusion(logits_fn, xb, m, tb, output=output, baseline=baseline)
        if method == "shapley":
            return shapley(logits_fn, xb, m, tb, output=output, baseline=baseline)
        if method == "integrated_gradients":
            return integrated_gradients(logits_fn, xb, m, tb, output=output, baseline=baseline, steps=steps)
        return gradient_x_input(logits_fn, xb, m, tb, output=output, baseline=baseline)

    n = len(x)
    b = min(batch_size, n)
    pad = -n % b  # every call sees one batch shape: one compilation, outside the timing
    xp, tp = np.concatenate([x, np.repeat(x[-1:], pad, 0)]), np.concatenate([t, np.repeat(t[-1:], pad)])
    out = {}
    for method in methods:
        call(method, xp[:b], tp[:b])
        t0 = time.perf_counter()
        chunks = [call(method, xp[i:i + b], tp[i:i + b]) for i in range(0, len(xp), b)]
        seconds = time.perf_counter() - t0
        fwd, bwd = _passes(method, p, steps, tags)
        if method == "tag":
            att = chunks[0] if len(chunks) == 1 else type(chunks[0])(
                **{f: (np.concatenate([getattr(c, f) for c in chunks]) if isinstance(getattr(chunks[0], f), np.ndarray)
                       else getattr(chunks[0], f)) for f in chunks[0].__dataclass_fields__})
            att = type(att)(**{f: (getattr(att, f)[:n] if isinstance(getattr(att, f), np.ndarray) else getattr(att, f))
                               for f in att.__dataclass_fields__})
            out[method] = {"values": att.signed, "attribution": att, "forward_passes": fwd, "backward_passes": bwd,
                           "seconds": seconds}
        else:
            out[method] = {"values": np.concatenate(chunks)[:n], "forward_passes": fwd, "backward_passes": bwd,
                           "seconds": seconds}
    return out
