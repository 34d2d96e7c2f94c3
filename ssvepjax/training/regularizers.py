"""Differentiable frequency-tagging loss terms for optax training.

The paper proposes loss terms that encourage "biologically plausible" responses. These functions
compute such terms from activation time series ``[T, ...]`` with ``jnp.fft`` and are smooth in the
activations, so ``jax.grad`` passes through them; add them to a task loss the way
``optax.add_decayed_weights`` adds weight decay:

    loss = task_loss + weight * ssvep_loss(params, image)

``component_power_fraction`` is the share of a unit's AC power that lies at a set of component bins
(1 when it responds only there). ``tag_regularizer`` builds ``loss(variables, image) -> scalar`` for a
Linen model: it tags the image, probes the chosen layers and returns minus the mean power fraction
at the chosen component kinds (so minimising it encourages those responses), or plus it with
``sign=+1`` (to suppress, e.g., intermodulation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ssvepjax.spectral.design import Design
from ssvepjax.spectral.fourier import make_plan, transform
from ssvepjax.tagging import frequency_components as C
from ssvepjax.tagging.frames import apply_gains
from ssvepjax.tagging.masks import check_masks

_EPS = 1e-12


def component_power_fraction(x: Float[Array, "t ..."], bins, axis: int = 0) -> Float[Array, "..."]:
    """Share of the AC power (bins 1..T/2) of each series that lies at ``bins``, in [0, 1].

    Args:
        x: real series, time along ``axis``.
        bins: static component bins.
        axis: the time axis.

    Returns:
        ``x``'s shape without ``axis``; 0 for a constant series.
    """
    bins = np.asarray(bins, dtype=np.int64).reshape(-1)
    n_bins = np.shape(x)[axis] // 2 + 1
    if bins.size == 0 or bins.min() < 1 or bins.max() >= n_bins:
        raise ValueError(f"bins must be non-empty and lie in [1, {n_bins - 1}], got {bins.tolist()}")
    series = jnp.moveaxis(x, axis, 0)
    rest = series.shape[1:]
    plan = make_plan(series.shape[0], "fft")
    # Power from the real and imaginary parts (no square root: its gradient is infinite at 0). A one-sided
    # amplitude A carries power A^2 / 2 below Nyquist and A^2 at Nyquist (Parseval).
    re, im = transform(series.reshape(series.shape[0], -1), plan, 0.0, 0.0, phase=True)
    weight = np.where(2 * np.arange(1, n_bins) == series.shape[0], 1.0, 0.5)[:, None]
    p = (jnp.square(re) + jnp.square(im))[1:n_bins] * weight
    return (jnp.sum(p[bins - 1], 0) / (jnp.sum(p, 0) + _EPS)).reshape(rest)


def tag_regularizer(
    module,
    masks,
    design: Design = Design(),
    *,
    layers: Iterable[str],
    kinds: Iterable[str] = (C.INTERMODULATION,),
    sign: float = -1.0,
    apply_kwargs: dict | None = None,
    one_period: bool = True,
) -> Callable[[dict, Array], Array]:
    """``loss(variables, image [H, W, C]) -> scalar``: ``sign`` times the mean component power fraction.

    Args:
        module: a Linen module that ``sow``\\ s the named layers into ``intermediates`` (e.g. CifarResNet).
        masks: ``[P, H, W]`` part masks.
        design: tags and components.
        layers: names of the sown intermediates to regularise (e.g. ``"stage3_block4/conv2/post"``).
        kinds: component kinds whose power counts.
        sign: -1 encourages those responses, +1 suppresses them.
        apply_kwargs: extra arguments of ``module.apply`` (default ``{"train": False}``).
        one_period: run one stimulus period (``design.tags.period_frames`` frames) instead of all
            ``n_frames``: the same loss, ``design.tags.repeats`` times cheaper. Every component sits
            on a multiple ``R * j`` of the repeat count, and the power fraction of the R periods at
            ``R * j`` equals that of one period at j. Exact when ``module.apply`` is deterministic
            (batch statistics are too: R copies of a period have its mean and variance). With
            ``rngs`` in ``apply_kwargs`` (dropout) the frames are not repeats of each other and the
            one-period loss would be wrong: that combination raises ``ValueError``; pass False.

    With ``train=True`` in ``apply_kwargs`` batch norm normalises with the statistics of the frames of the
    image (``batch_stats`` is mutable inside the loss; its updates are discarded: the task loss's own
    training step keeps the running averages).
    """
    layers = list(layers)
    if not layers:
        raise ValueError("layers must name at least one recorded layer")
    kinds = tuple(kinds)
    bins = C.unique_bins(design.components, None)
    bins = [b for b in bins if any(c.bin == b and c.kind in kinds for c in design.components)]
    if not bins:
        raise ValueError(f"no component of kinds {kinds} in this design")
    m = jnp.asarray(check_masks(masks, np.shape(masks)[1], np.shape(masks)[2], len(design.tags.freqs_hz)),
                    jnp.float32)
    t = design.tags
    g = t.gains(one_period)
    if one_period:
        bins = [b // t.repeats for b in bins]
    kwargs = {"train": False} if apply_kwargs is None else dict(apply_kwargs)
    if one_period and "rngs" in kwargs:
        raise ValueError("apply_kwargs carries rngs (a stochastic model): its frames are not repeats of one period, "
                         "so one_period=True would give a wrong loss; pass one_period=False")
    mutable = ["intermediates", "batch_stats"] if kwargs.get("train") else ["intermediates"]

    def loss(variables, image):
        frames = apply_gains(image, m, g)
        _, state = module.apply(variables, frames, mutable=mutable, **kwargs)
        inter = state["intermediates"]
        fracs = []
        for name in layers:
            node = inter
            for part in name.split("/"):
                if part not in node:
                    raise ValueError(f"unknown layer name {name!r}")
                node = node[part]
            fracs.append(jnp.mean(component_power_fraction(node[0], bins)))
        return sign * jnp.mean(jnp.stack(fracs))

    return loss

