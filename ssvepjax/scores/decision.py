"""Filter importance from the decision's spectrum: how much a filter carries the parts' tags into the logit.

The tag scores (``scores.tags``) read how strongly a filter follows the flicker; this one reads how
much that following reaches the decision. Each image's parts are tagged (``explain.attribution``), and the
target logit's amplitude at the tags' fundamentals, ``A = sum_p |c_p|``, is differentiated with respect to a
multiplicative gate ``z_c`` on every filter after its batch norm (``weights.bn_affine``: at ``z = 1`` the
gate's gradient is ``scale * dA/dscale + bias * dA/dbias``). Removing the filter sets ``z_c = 0``, so to first
order it changes the decision's tag amplitude by ``-dA/dz_c``; the score is ``|dA/dz_c|`` averaged over
images. One backward pass (through the ``period_frames`` tagged frames of each image) scores every filter of
every layer at once.

The target is each image's label when labels are given, else the model's prediction on the untagged image.
Units: output units (logit or log-probability) per unit of gate. Reference: first-order importance of a gate
(Molchanov et al. 2019) applied to the tag amplitude of the decision instead of the loss (SCIENCE.md section 7).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax import _checks as V
from ssvepjax.scores.weights import bn_affine, conv_layers, with_bn_affine
from ssvepjax.tagging.frames import check_image
from ssvepjax.tagging.masks import check_masks, halves
from ssvepjax.tagging.tags import TagConfig

__all__ = ["decision_scores"]


@functools.lru_cache(maxsize=16)
def _program(model, masks_bytes, shape, tags, output, max_order):
    """Jitted ``(variables, bn, images, targets, weights) -> {layer: [c]}`` weighted sums of ``|dA/dz_c|``."""
    from ssvepjax.explain.attribution import tag_spectrum_fn  # explain imports scores: resolved at call time

    masks = np.frombuffer(masks_bytes, bool).reshape(shape)

    def amplitude(bn_params, variables, image, target):
        fn = lambda frames: model.apply(with_bn_affine(variables, bn_params), frames, train=False)  # noqa: E731
        c = tag_spectrum_fn(fn, masks, tags, output=output, max_order=max_order)(image, target)["coef"]
        return jnp.sqrt(jnp.real(c) ** 2 + jnp.imag(c) ** 2 + 1e-30).sum()  # |c| with a finite gradient at 0

    grad_one = jax.grad(amplitude)

    @jax.jit
    def run(variables, bn, xb, tb, weights):
        g = jax.vmap(grad_one, in_axes=(None, None, 0, 0))(bn, variables, xb, tb)
        return {k: jnp.einsum("b,bc->c", weights, jnp.abs(s * g[k][0] + b * g[k][1])) for k, (s, b) in bn.items()}

    return run


def decision_scores(
    model,
    variables: dict,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    masks: np.ndarray | None = None,
    tags: TagConfig | None = None,
    output: str = "logit",
    max_order: int = 4,
    batch_size: int = 4,
) -> dict[str, np.ndarray]:
    """``{layer: [c]}``: mean over images of ``|d A / d z_c|``, the first-order change of the target's tag amplitude.

    Args:
        model: a Flax Linen model with a batch norm after every conv (e.g. ``sj.CifarResNet``).
        variables: its variables.
        images: ``[N, H, W, C]`` in [0, 1].
        labels: ``[N]`` int targets; None uses the model's predictions.
        masks: ``[P, H, W]`` parts (default ``sj.halves(H, W)``).
        tags: one tag per part (default 6 and 7.5 Hz at 120 fps, 240 frames); collision-free up to ``max_order``.
        output: ``"logit"`` or ``"log_prob"``.
        max_order: as in ``explain.attribution``.
        batch_size: images per jitted gradient call.

    Returns:
        Finite non-negative scores per filter of every conv layer (output units per unit of gate).
    """
    from ssvepjax.explain.attribution import check_tag_collisions  # explain imports scores: resolved at call time

    check_image(images, "images", "N, H, W, C")
    x = np.asarray(images, np.float32)
    if len(x) == 0:
        raise ValueError("images must hold at least one image")
    n, h, w, _ = x.shape
    masks = halves(h, w) if masks is None else masks
    m = check_masks(masks, h, w)
    tags = TagConfig((6.0, 7.5)) if tags is None and len(m) == 2 else tags
    if not isinstance(tags, TagConfig) or tags.n_tags != len(m):
        raise ValueError(f"tags must be a TagConfig with one tag per part ({len(m)}), got {tags!r}")
    check_tag_collisions(tags, max_order)
    V.check_positive("batch_size", batch_size, integer=True)
    layers = conv_layers(variables)
    bn = bn_affine(variables)

    if labels is None:
        predict = jax.jit(lambda xb: jnp.argmax(model.apply(variables, xb, train=False), -1))
        t = np.concatenate([np.asarray(predict(x[i:i + 64])) for i in range(0, n, 64)]).astype(np.int32)
    else:
        t = np.asarray(labels)
        if t.shape != (n,) or t.dtype.kind not in "iu":
            raise ValueError(f"labels must be [N] = [{n}] integers, got shape {t.shape} dtype {t.dtype}")
        probe = jax.ShapeDtypeStruct((1, h, w, x.shape[3]), jnp.float32)
        n_out = jax.eval_shape(lambda f: model.apply(variables, f, train=False), probe).shape[-1]
        if t.min() < 0 or t.max() >= n_out:
            raise ValueError(f"labels must lie in [0, {n_out}) (the model's outputs)")
        t = t.astype(np.int32)

    run = _program(model, np.ascontiguousarray(m).tobytes(), m.shape, tags, output, max_order)
    total = {k: np.zeros(bn[k][0].shape, np.float64) for k in layers}
    b = min(batch_size, n)
    for i in range(0, n, b):
        xb, tb = x[i:i + b], t[i:i + b]
        wts = np.ones(b, np.float32)
        if len(xb) < b:  # one compiled shape: pad with the last image at weight 0
            pad = b - len(xb)
            wts[len(xb):] = 0.0
            xb, tb = np.concatenate([xb, np.repeat(xb[-1:], pad, 0)]), np.concatenate([tb, np.repeat(tb[-1:], pad)])
        res = run(variables, bn, jnp.asarray(xb), jnp.asarray(tb), jnp.asarray(wts))
        for k in layers:
            total[k] += np.asarray(res[k], np.float64)
    out = {k: v / n for k, v in total.items()}
    for k, v in out.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"decision_scores gave NaN or infinite scores for {k}")
    return out
