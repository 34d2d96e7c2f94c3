"""Effect sizes of tag responses that do not depend on the recording length.

A deterministic network driven by a stimulus of period P frames responds with a periodic series, and its
amplitudes at the components are that series' Fourier coefficients: the same for any recording of whole
periods (T = 160, 240 or 480 frames of the same 80-frame period; SCIENCE.md section 6). So is its AC power,
the mean square over a period (Parseval: ``sum_k w_k A_k^2`` with ``w_k = 1/2`` below Nyquist and 1 at
Nyquist). Every measure here is built on those two, per unit, from the image-averaged amplitude spectrum:

- ``ac``: the AC amplitude ``sqrt(2 * power)`` (a sinusoid of amplitude a has AC amplitude a); 0 for a
  silent unit;
- ``relative``: the amplitude at each component over ``ac`` (NaN for a silent unit); the detection
  limit of ``Design`` is on this scale;
- ``share``: the share of the AC power at each kind of bin: ``fundamental``, ``harmonic``,
  ``intermodulation`` (listed components), ``shared`` (bins where two components coincide, e.g.
  30 Hz = 5 f1 = 4 f2: kept out of the pure kinds, SCIENCE.md section 4), ``higher_order`` (other bins
  of the tags' lattice: combinations above ``max_order``) and ``off_lattice`` (bins no combination of
  the tags reaches: 0 for a deterministic network, the noise for a noisy one). The shares sum to 1;
- ``im_ratio``: ``sqrt(P_intermodulation / P_fundamental)``, intermodulation relative to the unit's
  fundamentals (NaN without fundamental power).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax.spectral.design import Design
from ssvepjax.spectral.fourier import power_weights
from ssvepjax.tagging import frequency_components as C

#: Where a unit's AC power can lie: the keys of the power shares in ``unit_effects``.
POWER_KINDS = (C.FUNDAMENTAL, C.HARMONIC, C.INTERMODULATION, "shared", "higher_order", "off_lattice")




def bin_kinds(design: Design) -> np.ndarray:
    """``[K]`` index into ``POWER_KINDS`` of every bin of the design's spectrum (DC: off-lattice, weight 0)."""
    comps = design.components
    kinds = np.full(design.n_bins, POWER_KINDS.index("off_lattice"))
    step = C.lattice_step(comps)
    kinds[np.arange(design.n_bins) % step == 0] = POWER_KINDS.index("higher_order")
    for c in comps:  # a bin where two components land (30 Hz = 5 f1 = 4 f2) is "shared", as in the summaries
        kinds[c.bin] = POWER_KINDS.index("shared" if c.shared else c.kind)
    kinds[0] = POWER_KINDS.index("off_lattice")
    return kinds


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _effects(spec, component_bins: tuple[int, ...], kinds: tuple[int, ...], n_frames: int):
    a = spec.reshape(spec.shape[0], -1)
    p = jnp.square(a) * jnp.asarray(power_weights(n_frames), a.dtype)[:, None]
    power = jnp.sum(p, axis=0)
    ac = jnp.sqrt(2.0 * power)
    silent = power <= 0
    safe = jnp.where(silent, 1.0, power)
    onehot = jnp.asarray(np.eye(len(POWER_KINDS))[np.asarray(kinds)].T, a.dtype)  # [kinds, K]
    by_kind = onehot @ p  # [kinds, n]
    share = jnp.where(silent, jnp.nan, by_kind / safe)
    fund = by_kind[POWER_KINDS.index(C.FUNDAMENTAL)]
    im = by_kind[POWER_KINDS.index(C.INTERMODULATION)]
    im_ratio = jnp.where(fund > 0, jnp.sqrt(im / jnp.where(fund > 0, fund, 1.0)), jnp.nan)
    relative = jnp.where(silent, jnp.nan, a[np.asarray(component_bins)] / jnp.where(silent, 1.0, ac))
    rest = spec.shape[1:]
    return {"ac": ac.reshape(rest), "relative": relative.reshape(len(component_bins), *rest),
            "share": {k: share[i].reshape(rest) for i, k in enumerate(POWER_KINDS)},
            "im_ratio": im_ratio.reshape(rest)}


def unit_effects(spec, design: Design = Design()) -> dict:
    """Effect sizes of every unit of one layer (module docstring) from its spectrum ``[K, *unit_shape]``.

    Returns:
        ``{"ac": [*unit_shape], "relative": [m, *unit_shape] at design.bins()[0], "share": {kind:
        [*unit_shape]}, "im_ratio": [*unit_shape]}`` as NumPy arrays.
    """
    if np.ndim(spec) < 1 or np.shape(spec)[0] != design.n_bins:
        raise ValueError(f"spec has shape {np.shape(spec)}: the design has {design.n_bins} bins on the first axis")
    cb = tuple(int(b) for b in design.bins()[0])
    out = _effects(jnp.asarray(spec), cb, tuple(int(k) for k in bin_kinds(design)), design.tags.n_frames)
    return jax.tree.map(np.asarray, out)


__all__ = ["POWER_KINDS", "bin_kinds", "power_weights", "unit_effects"]
