"""Tag attribution: which part of an image drives a decision, read from the output's own spectrum.

Every part ``p`` of an image flickers at its own tag ``f_p`` (``tagging.frames``: gain
``g_p(i) = 1 - d + d * sin(2 pi f_p i / fps + phase)`` with modulation depth ``d = (1 - min_gain) / 2``,
0.25 by default); the chosen output of the network (a logit, or a log-probability) is recorded over one
stimulus period and its Fourier coefficients at the design's components are read. For one image:

- ``signed[p]``: the fundamental's coefficient ``c_p`` projected on the stimulus's own phasor at ``f_p``
  (``d * exp(1j * (phase - pi/2))``: the gain is a sine) and divided by ``d``. For an output that is
  linear in the gains, ``y = b + sum_p a_p g_p``, it is exactly ``a_p``: the output's change per unit of
  the part's contrast gain (its first-order effect, in logit units; a gain of 0 removes the part, so
  ``a_p`` is what occluding the part would cost if the output were linear in it). Its sign says whether the
  part pushes the output up (in phase with the flicker) or down (in antiphase).
- ``amplitude[p] = |c_p|`` and ``phase[p]``, the phase of ``c_p`` relative to the stimulus's (0: in phase).
- ``harmonics[p]``: the summed amplitude at ``f_p`` and its harmonics ``n f_p`` (harmonic summation,
  Retter et al. 2021), bins that hold another component left out.
- ``intermodulation[p]``: the summed amplitude of the intermodulation components that involve part p
  (``c_p != 0``, order up to ``max_order``, shared bins left out), and ``im_share``: the intermodulation's
  share of the output's power at the components, in [0, 1]: 0 for an output additive in the parts, > 0
  where the network combines parts nonlinearly (a product of two gains lands at ``f_1 +- f_2``).

The components must not collide: a part's fundamental on another part's harmonic or on an
intermodulation component up to ``max_order`` (folded into the period that is actually recorded) makes
its attribution ambiguous, and :func:`check_tag_collisions` refuses it. :func:`attribution_tags` gives
collision-free tags for 1 to 4 parts (120 fps, 240 frames; an 80-frame period for two parts, 120 frames for three
or four).

Cost: ``tags.period_frames`` forward passes per image (80 or 120 for the defaults), whatever the number of parts;
occlusion needs ``P + 1`` and exact Shapley values ``2 ** P`` (``explain.part_baselines``). Every image of a
batch goes through one jitted call.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ssvepjax import _checks as V
from ssvepjax.spectral.fourier import fourier_coefficients
from ssvepjax.tagging.frames import apply_gains, check_image
from ssvepjax.tagging.masks import check_masks
from ssvepjax.tagging.tags import TagConfig

__all__ = ["OUTPUTS", "PartAttribution", "attribution_tags", "check_tag_collisions", "check_target",
           "default_max_order", "output_value", "tag_attribution", "tag_spectrum_fn"]

#: What ``tag_attribution`` records of the target class: its logit or its log-probability.
OUTPUTS = ("logit", "log_prob")

# Collision-free (check_tag_collisions) at 120 fps and 240 frames: (6, 7.5) Hz in an 80-frame period up to order 4;
# (2, 5, 21) Hz in a 120-frame period up to order 4; (4, 6, 15, 50) Hz in a 120-frame period up to order 3 (no four
# tags in an 80- or 120-frame period pass at order 4). Found by exhaustive search over bin sets.
_DEFAULT_TAGS = {1: (6.0,), 2: (6.0, 7.5), 3: (2.0, 5.0, 21.0), 4: (4.0, 6.0, 15.0, 50.0)}
_DEFAULT_ORDER = {1: 4, 2: 4, 3: 4, 4: 3}


def attribution_tags(n_parts: int) -> TagConfig:
    """Collision-free tags for 1 to 4 parts at 120 fps and 240 frames (:func:`default_max_order` each).

    Two parts get the paper's 6 and 7.5 Hz (an 80-frame period); three and four parts a 120-frame period. More
    parts need your own tags (:func:`check_tag_collisions`).
    """
    V.check_positive("n_parts", n_parts, integer=True)
    if n_parts not in _DEFAULT_TAGS:
        raise ValueError(f"n_parts must be 1 to 4 for the default tags, got {n_parts}; pass a TagConfig whose tags "
                         f"pass check_tag_collisions")
    return TagConfig(_DEFAULT_TAGS[n_parts])


def default_max_order(n_parts: int) -> int:
    """The intermodulation order up to which :func:`attribution_tags` is collision-free: 4, or 3 for four parts."""
    return _DEFAULT_ORDER.get(int(n_parts), 4)


def _fold(k: int, n: int) -> int:
    k %= n
    return min(k, n - k)


def check_tag_collisions(tags: TagConfig, max_order: int = 4) -> None:
    """``ValueError`` naming ``tags`` if a part's fundamental lands on another component of the recorded period.

    Components are every harmonic ``n f_q`` of every other tag (any n: a rectifier makes them all) and every
    intermodulation ``sum_p c_p f_p`` of order ``sum |c_p|`` up to ``max_order``. Frequencies are folded into the
    recorded period's spectrum (a component above its Nyquist frequency aliases onto ``|k mod P|``), and a
    fundamental on DC or on the period's Nyquist bin is refused as well (its phase is lost).
    """
    if not isinstance(tags, TagConfig):
        raise ValueError(f"tags must be a TagConfig, got {type(tags).__name__}")
    V.check_positive("max_order", max_order, integer=True)
    period, r = tags.period_frames, tags.repeats
    bins = [b // r for b in tags.tag_bins]
    folded = [_fold(b, period) for b in bins]
    for p, b in enumerate(folded):
        if b == 0 or 2 * b == period:
            raise ValueError(f"tags: {tags.freqs_hz[p]} Hz lands on DC or Nyquist of the recorded {period}-frame "
                             f"period; choose another tag")
    for q, b in enumerate(bins):  # every harmonic of every other tag, whatever its order: rectifiers make them all
        for m in range(2, period + 1):
            k = _fold(m * b, period)
            for p, fb in enumerate(folded):
                if k == fb and p != q:
                    raise ValueError(f"tags: part {p + 1}'s fundamental ({tags.freqs_hz[p]} Hz) lies on harmonic {m} "
                                     f"of part {q + 1}'s tag ({tags.freqs_hz[q]} Hz) in the recorded {period}-frame "
                                     f"period; choose other tags (attribution_tags)")
    for c in itertools.product(range(-max_order, max_order + 1), repeat=len(bins)):
        nz = [i for i, x in enumerate(c) if x]
        if not nz or sum(abs(x) for x in c) > max_order or (len(nz) == 1 and abs(c[nz[0]]) == 1):
            continue
        k = _fold(int(np.dot(c, bins)), period)
        for p, b in enumerate(folded):
            if k == b and nz != [p]:
                terms = "+".join(f"{x}*f{i + 1}" for i, x in enumerate(c) if x)
                raise ValueError(f"tags: part {p + 1}'s fundamental ({tags.freqs_hz[p]} Hz) collides with the "
                                 f"component {terms} (order {sum(abs(x) for x in c)} <= max_order={max_order}) in "
                                 f"the recorded {period}-frame period; choose other tags (attribution_tags) or a "
                                 f"lower max_order")


def output_value(logits: Float[Array, "b k"], target, output: str) -> Float[Array, " b"]:
    """The chosen output of each row of ``logits``: its ``target`` logit, or that class's log-probability."""
    if output == "log_prob":
        logits = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logits, jnp.asarray(target)[..., None], axis=-1)[..., 0]


def check_target(target, n_images: int, n_outputs: int) -> np.ndarray:
    """``target`` (an int or ``[N]`` ints) as ``[N]`` int32; ``ValueError`` naming it when outside the outputs."""
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise ValueError(f"target must be an integer class index or [N] of them, got dtype {t.dtype}")
    if t.ndim == 0:
        t = np.full(n_images, int(t))
    if t.shape != (n_images,):
        raise ValueError(f"target must be one index or one per image ([{n_images}]), got shape {t.shape}")
    if n_images and (t.min() < 0 or t.max() >= n_outputs):
        raise ValueError(f"target must lie in [0, {n_outputs}) (the model has {n_outputs} outputs), got "
                         f"{sorted(set(t[(t < 0) | (t >= n_outputs)].tolist()))[:5]}")
    return t.astype(np.int32)


def _component_sets(tags: TagConfig, max_order: int):
    """Static bin sets of the recorded period: fundamentals, each part's harmonics, each part's IM, and all IM."""
    period, r, n = tags.period_frames, tags.repeats, tags.n_tags
    bins = [b // r for b in tags.tag_bins]
    hits: dict[int, list[tuple[int, ...]]] = {}
    for c in itertools.product(range(-max_order, max_order + 1), repeat=n):
        if sum(abs(x) for x in c) == 0 or sum(abs(x) for x in c) > max_order:
            continue
        k = int(np.dot(c, bins))
        if 0 < k < period / 2:  # each component once, by its positive frequency below the period's Nyquist
            hits.setdefault(k, []).append(c)
    for p, b in enumerate(bins):  # every harmonic below Nyquist, whatever max_order
        m = 1
        while m * b < period / 2:
            hits.setdefault(m * b, []).append(tuple(m if i == p else 0 for i in range(n)))
            m += 1
    pure = {k: cs[0] for k, cs in hits.items() if len({tuple(c) for c in cs}) == 1}
    harm = [sorted(k for k, c in pure.items() if c[p] and sum(1 for x in c if x) == 1) for p in range(n)]
    im_of = [sorted(k for k, c in pure.items() if c[p] and sum(1 for x in c if x) >= 2) for p in range(n)]
    im_all = sorted(k for k, c in pure.items() if sum(1 for x in c if x) >= 2)
    return tuple(bins), [tuple(h) for h in harm], [tuple(i) for i in im_of], tuple(im_all)


def tag_spectrum_fn(logits_fn: Callable, masks, tags: TagConfig, *, output: str = "logit", max_order: int = 4):
    """``(image [H, W, C], target) -> {"coef": [P] complex, "harmonics": [P], "im_part": [P], "im_power", "power",
    "dc"}``: the traceable core of :func:`tag_attribution` for one image (``masks`` checked already).

    ``coef`` are the one-sided Fourier coefficients of the output at each tag's fundamental (as in
    ``fourier.fourier_coefficients``, no detection floor); differentiable, so a gradient of an amplitude
    with respect to the model's parameters is one backward pass (``scores.decision``).
    """
    V.check_choice("output", output, OUTPUTS)
    fund, harm, im_of, im_all = _component_sets(tags, max_order)
    g = tags.gains(one_period=True)
    m = jnp.asarray(masks, jnp.float32)
    every = tuple(sorted({*fund, *[k for h in harm for k in h], *im_all}))
    index = {k: i for i, k in enumerate(every)}

    def one(image, target):
        frames = apply_gains(image, m, g)
        y = output_value(logits_fn(frames), jnp.full((frames.shape[0],), target), output)
        coef = fourier_coefficients(y, every, detection_limit=0.0, resolution=0.0)
        amp = jnp.abs(coef)
        pick = lambda ks: amp[jnp.asarray([index[k] for k in ks], jnp.int32)].sum() if ks else jnp.zeros(())  # noqa: E731
        im_amp = amp[jnp.asarray([index[k] for k in im_all], jnp.int32)] if im_all else jnp.zeros((0,))
        harm_bins = sorted({k for h in harm for k in h})
        harm_amp = amp[jnp.asarray([index[k] for k in harm_bins], jnp.int32)]
        return {"coef": coef[jnp.asarray([index[k] for k in fund], jnp.int32)],
                "harmonics": jnp.stack([pick(h) for h in harm]),
                "im_part": jnp.stack([pick(i) for i in im_of]),
                "im_power": (im_amp ** 2).sum(), "power": (im_amp ** 2).sum() + (harm_amp ** 2).sum(),
                "dc": y.mean()}

    return one


@dataclasses.dataclass(frozen=True)
class PartAttribution:
    """Per-part attribution of one output of a batch of images (module docstring).

    Attributes:
        signed: ``[N, P]`` first-order effect of each part's contrast gain on the output (output units; the
            fundamental's coefficient projected on the stimulus phase, divided by the modulation depth).
        amplitude: ``[N, P]`` amplitude of the output at each tag's fundamental (output units).
        phase: ``[N, P]`` its phase relative to the stimulus's at that tag, radians in (-pi, pi].
        harmonics: ``[N, P]`` summed amplitude at each tag's fundamental and harmonics.
        intermodulation: ``[N, P]`` summed amplitude of the intermodulation components involving each part.
        im_share: ``[N]`` intermodulation power / power at every listed component, in [0, 1].
        mean_output: ``[N]`` the output averaged over the period (its DC).
        target: ``[N]`` the class whose output was read.
        depth: the modulation depth ``(1 - min_gain) / 2``.
        forward_passes: network evaluations per image (``tags.period_frames``).
    """

    signed: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    harmonics: np.ndarray
    intermodulation: np.ndarray
    im_share: np.ndarray
    mean_output: np.ndarray
    target: np.ndarray
    depth: float
    forward_passes: int


@functools.lru_cache(maxsize=16)
def _batch_program(logits_fn, masks_bytes, shape, tags, output, max_order):
    masks = np.frombuffer(masks_bytes, bool).reshape(shape)
    one = tag_spectrum_fn(logits_fn, masks, tags, output=output, max_order=max_order)
    return jax.jit(jax.vmap(one))


def tag_attribution(
    logits_fn: Callable[[Array], Array],
    images: Float[ArrayLike, "n h w c"],
    masks,
    target,
    tags: TagConfig | None = None,
    *,
    output: str = "logit",
    max_order: int | None = None,
    batch_size: int = 8,
) -> PartAttribution:
    """Attribution of ``target``'s output to each part, from the output's spectrum under part tagging.

    Args:
        logits_fn: ``[B, H, W, C] -> [B, K]`` logits (e.g. ``lambda x: model.apply(variables, x, train=False)``);
            a fixed Python function (its identity keys the compiled program).
        images: ``[N, H, W, C]`` in [0, 1].
        masks: ``[P, H, W]`` disjoint non-empty parts (``sj.halves``, ``sj.quadrants``, ``sj.grid``, your own).
        target: the class whose output is read: one index, or ``[N]`` (e.g. labels or predictions).
        tags: one tag per part (default :func:`attribution_tags`); checked by :func:`check_tag_collisions`.
        output: ``"logit"`` or ``"log_prob"`` (the target's log-softmax).
        max_order: highest intermodulation order checked for collisions and summed (default
            :func:`default_max_order` of the number of parts).
        batch_size: images per jitted call (``batch_size * period_frames`` frames go through the network).

    Returns:
        A :class:`PartAttribution`.
    """
    check_image(images, "images", "N, H, W, C")
    n, h, w, _ = np.shape(images)
    tags = attribution_tags(int(np.shape(masks)[0])) if tags is None and np.ndim(masks) == 3 else tags
    if not isinstance(tags, TagConfig):
        raise ValueError(f"tags must be a TagConfig, got {type(tags).__name__}")
    m = check_masks(masks, h, w, n_parts=tags.n_tags)
    max_order = default_max_order(len(m)) if max_order is None else max_order
    check_tag_collisions(tags, max_order)
    V.check_choice("output", output, OUTPUTS)
    V.check_positive("batch_size", batch_size, integer=True)
    n_out = jax.eval_shape(logits_fn, jax.ShapeDtypeStruct((1, h, w, np.shape(images)[3]), jnp.float32)).shape[-1]
    t = check_target(target, n, n_out)
    run = _batch_program(logits_fn, np.ascontiguousarray(m).tobytes(), m.shape, tags, output, max_order)
    x = np.asarray(images, np.float32)
    parts = []
    for i in range(0, n, batch_size):
        xb, tb = x[i:i + batch_size], t[i:i + batch_size]
        pad = batch_size - len(xb)  # one compiled shape for every batch
        if pad and n > batch_size:
            xb, tb = np.concatenate([xb, np.repeat(xb[-1:], pad, 0)]), np.concatenate([tb, np.repeat(tb[-1:], pad)])
        res = jax.device_get(run(jnp.asarray(xb), jnp.asarray(tb)))
        parts.append({k: np.asarray(v)[:len(x[i:i + batch_size])] for k, v in res.items()})
    res = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    depth = (1.0 - tags.min_gain) / 2.0
    stim = np.exp(1j * (tags.phase - np.pi / 2))  # the gain's sine as a cosine phasor
    rel = res["coef"] * np.conj(stim)
    return PartAttribution(
        signed=np.real(rel) / depth, amplitude=np.abs(res["coef"]), phase=np.angle(rel),
        harmonics=res["harmonics"], intermodulation=res["im_part"],
        im_share=np.where(res["power"] > 0, res["im_power"] / np.where(res["power"] > 0, res["power"], 1.0), 0.0),
        mean_output=res["dc"], target=t, depth=depth, forward_passes=tags.period_frames)
