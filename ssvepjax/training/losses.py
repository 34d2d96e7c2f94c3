"""Frequency-tagging loss terms: differentiable measures of a layer's responses, for optax training.

The paper's stated future direction is loss functions that encourage biologically plausible responses.
Each term here is a pure function of (variables, images) built by :func:`spectral_loss`: it tags each
image (one stimulus period by default), runs the network over the frames (:func:`linen_apply`, or any
``apply(variables, frames) -> {layer: [F, ...]}``), takes the power of every unit at every bin with the
library's one transform (``spectral.fourier``, no detection floor, no square root: smooth everywhere), and
returns a scalar to *minimise*, added to the task loss with a weight, the way ``optax.add_decayed_weights``
adds weight decay:

    loss = task_loss + weight * term(variables, tagged_images)

Every term is one minus the mean over the units of a layer of a share

    share_u = P_good(u) / (P_ref(u) + FLOOR * mean_v P_ref(v)),

so that it does not change when all activations are scaled (both sides scale alike) and cannot be won by
shrinking or silencing units: a unit whose power is small next to the layer's typical power has a share
near 0 and pulls the mean down (a plain per-unit share would score a near-silent unit whose residue is its
fundamental at about 1; a ratio of layer sums is won by silencing every unit but the purest, which the tests
show). ``FLOOR`` is 0.1. The terms, each in [0, 1]:

- ``"tag_locking"``: good = the tags and their harmonics, ref = the unit's activity (mean square over the
  frames, DC included, so a unit cannot pass by a tiny AC part that is all tag);
- ``"intermodulation"``: good = intermodulation, ref = intermodulation + fundamentals: lower where units
  combine the parts nonlinearly, the signature of part integration in human frequency tagging (Boremanse,
  Norcia & Rossion 2013; Alp et al. 2016);
- ``"purity"``: good = every listed component, ref = the AC power: lower where little power lies at
  higher-order lattice bins or off the lattice.

Powers use Parseval's weights (``A^2 / 2`` below Nyquist, ``A^2`` at Nyquist), so no bin counts twice.
With batch norm in training mode the frames of one image form the batch (``batch_stats`` updates are
discarded: the task loss's training step keeps the running averages). One period is exact for a
deterministic network, batch statistics included (R copies of a period have its mean and variance); a
stochastic one (dropout ``rngs``) needs ``one_period=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ssvepjax.analysis.effects import power_weights
from ssvepjax.spectral.design import Design, as_design
from ssvepjax.spectral.fourier import make_plan, transform
from ssvepjax.tagging import frequency_components as C
from ssvepjax.tagging.frames import apply_gains
from ssvepjax.tagging.masks import check_masks

#: The loss terms of ``spectral_loss``.
TERMS = ("tag_locking", "intermodulation", "purity")
#: Shares are taken against the layer's mean reference power times this, so shrinking activations cannot win.
FLOOR = 0.1
_EPS = 1e-12
_SHARES = {"tag_locking": ("tag", "activity"), "intermodulation": ("intermodulation", "im_fundamental"),
           "purity": ("component", "ac")}


def linen_apply(module, *, train: bool = False, **apply_kwargs) -> Callable[[dict, Array], dict[str, Array]]:
    """``apply(variables, frames [F, H, W, C]) -> {layer: [F, ...]}`` for a Linen module that ``sow``\\ s.

    Every value sown into ``intermediates`` is returned under its path (``"stage3_block4/conv2/post"``).
    ``train=True`` runs batch norm in training mode over the frames (``batch_stats`` mutable, updates dropped).
    ``apply_kwargs`` go to ``module.apply`` (e.g. ``rngs``).
    """
    mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]

    def apply(variables, frames):
        _, state = module.apply(variables, frames, mutable=mutable, train=train, **apply_kwargs)
        out = {}
        for path, leaf in jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]:
            keys = [str(getattr(p, "key", p)) for p in path if not isinstance(p, jax.tree_util.SequenceKey)]
            out["/".join(keys)] = leaf
        return out

    apply.stochastic = "rngs" in apply_kwargs
    return apply


def bin_classes(design: Design, n_frames: int, repeats: int) -> dict[str, np.ndarray]:
    """Which bins of a ``n_frames``-sample (one period: ``T / repeats``) spectrum each term reads.

    Returns:
        ``{"tag": bool [K], "fundamental": ..., "intermodulation": ..., "component": ...}``: the tags and
        their harmonics; the fundamentals; the intermodulation components; every listed component.
    """
    k = n_frames // 2 + 1
    out = {name: np.zeros(k, bool) for name in ("tag", "fundamental", "intermodulation", "component")}
    for c in design.components:
        if c.bin % repeats:
            continue
        b = c.bin // repeats
        out["component"][b] = True
        if c.kind in (C.FUNDAMENTAL, C.HARMONIC) and not c.shared:
            out["tag"][b] = True
        if c.kind == C.FUNDAMENTAL:
            out["fundamental"][b] = True
        if c.kind == C.INTERMODULATION and not c.shared:
            out["intermodulation"][b] = True
    return out


def layer_powers(x: Float[Array, "f ..."], classes: dict[str, np.ndarray]) -> dict[str, Array]:
    """Powers of every unit of a layer ``x [F, ...]``: ``{"tag", "fundamental", "intermodulation", "component",
    "im_fundamental", "ac", "activity"}``, each ``[units]`` (traceable and differentiable)."""
    f = x.shape[0]
    series = x.reshape(f, -1)
    series = series.astype(jnp.result_type(series.dtype, jnp.float32))
    plan = make_plan(f, "fft")
    re, im = transform(series, plan, 0.0, 0.0, phase=True)  # rows are bins for the FFT plan
    p = (jnp.square(re) + jnp.square(im)) * jnp.asarray(power_weights(f), series.dtype)[:, None]
    out = {name: jnp.sum(p[np.flatnonzero(mask)], axis=0) for name, mask in classes.items()}
    out["im_fundamental"] = out["intermodulation"] + out["fundamental"]
    out["ac"] = jnp.sum(p, axis=0)
    out["activity"] = jnp.mean(jnp.square(series), axis=0)
    return out


def term_shares(term: str, powers: dict[str, Array]) -> Array:
    """Each unit's share for ``term`` (module docstring) from :func:`layer_powers`: ``[units]`` in [0, 1]."""
    good, ref = _SHARES[term]
    floor = FLOOR * jnp.mean(powers[ref]) + _EPS
    return powers[good] / (powers[ref] + floor)


def term_value(term: str, powers: dict[str, Array]) -> Array:
    """The loss of ``term``: one minus the units' mean share (``term_shares``), a scalar in [0, 1]."""
    return 1.0 - jnp.mean(term_shares(term, powers))


def _layer_weights(layers) -> dict[str, float]:
    if isinstance(layers, str):
        layers = [layers]
    weights = dict(layers) if isinstance(layers, Mapping) else {name: 1.0 for name in layers}
    if not weights:
        raise ValueError("layers must name at least one recorded layer")
    bad = {k: w for k, w in weights.items()
           if not (isinstance(w, (int, float, np.number)) and not isinstance(w, bool) and np.isfinite(w) and w >= 0)}
    if bad:
        raise ValueError(f"layer weights must be finite numbers >= 0, got {bad}")
    return {k: float(w) for k, w in weights.items()}


def spectral_loss(
    term: str,
    apply: Callable[[dict, Array], dict[str, Array]],
    masks,
    design: Design = Design(),
    *,
    layers: Sequence[str] | Mapping[str, float],
    one_period: bool = True,
) -> Callable[[dict, Array], Array]:
    """``loss(variables, images [B, H, W, C]) -> scalar``: a frequency-tagging loss term to minimise.

    Args:
        term: one of ``TERMS`` (module docstring).
        apply: ``apply(variables, frames [F, H, W, C]) -> {layer: [F, ...]}`` (e.g. :func:`linen_apply`).
        masks: ``[P, H, W]`` part masks, one per tag.
        design: the tags (every tag and component on a bin; e.g. 3 and 4 Hz at 24 frames/s, 24 frames).
        layers: the layers to regularise, or ``{layer: weight}`` (weights >= 0; the loss is their weighted
            sum of per-layer terms, averaged over images).
        one_period: tag one stimulus period (``design.tags.period_frames`` frames): the same loss for a
            deterministic network, ``repeats`` times cheaper. A stochastic ``apply`` (``rngs``) needs False.

    Returns:
        A pure function of ``(variables, images)``: jit and grad it, add it to the task loss.
    """
    if term not in TERMS:
        raise ValueError(f"term must be one of {TERMS}, got {term!r}")
    design = as_design(design)
    weights = _layer_weights(layers)
    if one_period and getattr(apply, "stochastic", False):
        raise ValueError("apply carries rngs (a stochastic model): its frames are not repeats of one period, so "
                         "one_period=True would give a wrong loss; pass one_period=False")
    tags = design.tags
    m = jnp.asarray(check_masks(masks, np.shape(masks)[1], np.shape(masks)[2], tags.n_tags), jnp.float32)
    g = tags.gains(one_period)
    repeats = tags.repeats if one_period else 1
    classes = bin_classes(design, g.shape[0], repeats)
    if term == "intermodulation" and not classes["intermodulation"].any():
        raise ValueError("this design has no intermodulation component (one tag, or max_order < 2)")

    def one_image(variables, image):
        acts = apply(variables, apply_gains(image, m, g))
        unknown = sorted(set(weights) - set(acts))
        if unknown:
            raise ValueError(f"unknown layer names {unknown}; recorded: {sorted(acts)[:12]}...")
        return sum(w * term_value(term, layer_powers(acts[name], classes)) for name, w in weights.items())

    def loss(variables, images):
        if jnp.ndim(images) == 3:
            images = images[None]
        return jnp.mean(jax.vmap(lambda im: one_image(variables, im))(images))

    return loss


def tag_measures(apply, variables, images, masks, design: Design = Design(), *, layers: Sequence[str]) -> dict:
    """The three terms' measures of each layer over ``images``, for reports: ``{layer: {term: value}}``.

    Not a loss: each term's mean share over units (``1 - loss``; ``term_shares``), with each unit's powers
    summed over the images.
    """
    design = as_design(design)
    tags = design.tags
    m = jnp.asarray(check_masks(masks, np.shape(masks)[1], np.shape(masks)[2], tags.n_tags), jnp.float32)
    g = tags.gains(True)
    classes = bin_classes(design, g.shape[0], tags.repeats)

    @jax.jit
    def powers(image):
        acts = apply(variables, apply_gains(image, m, g))
        return {name: layer_powers(acts[name], classes) for name in layers}

    total = None
    for image in np.asarray(images, np.float32):
        p = powers(jnp.asarray(image))
        total = p if total is None else jax.tree.map(jnp.add, total, p)
    return {name: {term: float(1 - term_value(term, v)) for term in TERMS} for name, v in total.items()}


__all__ = ["FLOOR", "TERMS", "bin_classes", "layer_powers", "linen_apply", "spectral_loss", "tag_measures",
           "term_shares", "term_value"]
