"""From image-averaged spectra to per-unit tag responses: neuron, filter and layer measures.

``measure(spec, design)`` takes the spectra of ``streaming.probe_dataset`` (``{layer: [K, *unit_shape]}``)
and evaluates every component bin and every noise-only bin of each unit (neuron), of each filter and
of each layer, with the one measures formula (``spectral.noise.measures_from_rows``).

Conventions, which the report repeats:
- Across images, amplitude spectra are averaged before SNR/z/BCA (each image is a different
  stimulus, so phases differ: averaging complex spectra would cancel true responses).
- A filter's spectrum is the mean of its neurons' amplitude spectra over spatial positions
  (spatial map first), not the spectrum of the spatially averaged series.
- A layer's spectrum is the mean amplitude spectrum over all its units.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ssvepjax.spectral.design import Design
from ssvepjax.spectral.noise import NoiseConfig, check_measures, measures_from_rows


@dataclasses.dataclass
class LayerResult:
    """Measures of one recorded layer.

    Attributes:
        name: layer name.
        unit_shape: shape of one frame's activation (e.g. ``(h, w, c)``).
        neuron: ``{"amplitude"|"snr"|"bca"|"z": [m, *unit_shape]}`` at the m component bins.
        neuron_noise_z: ``[q, *unit_shape]`` z at the q off-lattice bins, where no combination of
            the tags can respond (false-positive reference).
        neuron_lattice_z: ``[r, *unit_shape]`` z at the r on-lattice bins that are no listed
            component (responses of order above ``max_order``).
        filter_spectrum: ``[K, c]`` mean amplitude spectrum of each filter (last axis = channels).
        filter: ``{measure: [m, c]}`` at the component bins, from ``filter_spectrum``.
        layer_spectrum: ``[K]`` mean amplitude spectrum over all units.
        layer: ``{measure: [m]}`` at the component bins, from ``layer_spectrum``.
    """

    name: str
    unit_shape: tuple[int, ...]
    neuron: dict[str, np.ndarray]
    neuron_noise_z: np.ndarray
    neuron_lattice_z: np.ndarray
    filter_spectrum: np.ndarray
    filter: dict[str, np.ndarray]
    layer_spectrum: np.ndarray
    layer: dict[str, np.ndarray]

    @property
    def n_units(self) -> int:
        return int(np.prod(self.unit_shape))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _measures(spec, bins: tuple[int, ...], noise: NoiseConfig, names: tuple[str, ...]):
    """``{name: [m, *unit_shape]}`` at ``bins`` of a spectrum ``[K, *unit_shape]``."""
    rows = spec.reshape(spec.shape[0], -1)
    out = measures_from_rows(rows, np.arange(spec.shape[0]), bins, noise, names)
    return {k: v.reshape(len(bins), *spec.shape[1:]) for k, v in out.items()}


def _check_spectra(spec: dict, design: Design) -> None:
    if not isinstance(spec, dict) or not spec:
        raise ValueError("spec must be a non-empty dict {layer: [K, *unit_shape]} (from probe_dataset)")
    for name, s in spec.items():
        if np.ndim(s) < 1 or np.shape(s)[0] != design.n_bins:
            raise ValueError(f"spectrum of {name} has shape {np.shape(s)}: the design has {design.n_bins} bins "
                             f"on the first axis")


def measure(spec: dict[str, Array], design: Design = Design()) -> dict[str, LayerResult]:
    """Neuron, filter and layer measures at every component bin of every layer (module docstring)."""
    _check_spectra(spec, design)
    cb, _, nb = design.bins()
    hb = design.bins("on")[2]
    cb_t, nb_t, hb_t = (tuple(int(b) for b in bins) for bins in (cb, nb, hb))
    all_names = ("amplitude", "snr", "bca", "z")
    out = {}
    for name, s in spec.items():
        s = jnp.asarray(s)
        fs = s.reshape(s.shape[0], -1, s.shape[-1]).mean(1) if s.ndim >= 2 else s[:, None]
        ls = s.reshape(s.shape[0], -1).mean(1)
        noise_z, lattice_z = (np.asarray(_measures(s, b, design.noise, ("z",))["z"]) if b
                              else np.zeros((0, *s.shape[1:]), np.float32) for b in (nb_t, hb_t))
        out[name] = LayerResult(
            name, tuple(s.shape[1:]),
            {k: np.asarray(v) for k, v in _measures(s, cb_t, design.noise, all_names).items()}, noise_z, lattice_z,
            np.asarray(fs), {k: np.asarray(v) for k, v in _measures(fs, cb_t, design.noise, all_names).items()},
            np.asarray(ls), {k: np.asarray(v) for k, v in _measures(ls, cb_t, design.noise, all_names).items()},
        )
    return out


def spectrum_measures(spec: PyTree, design: Design = Design(), *, measures=("amplitude", "snr", "z")) -> PyTree:
    """Per-neuron measures at the component bins from spectra ``{layer: [K, *unit_shape]}``.

    The neuron part of :func:`measure` (``LayerResult.neuron``) without the filter, layer and noise-bin
    measures: ``{layer: {measure: [m, *unit_shape]}}`` as jax Arrays, for the m bins ``design.bins()[0]``.
    """
    names = check_measures(measures)
    _check_spectra(spec, design)
    bins = tuple(int(b) for b in design.bins()[0])
    return {k: _measures(jnp.asarray(s), bins, design.noise, names) for k, s in spec.items()}


__all__ = ["LayerResult", "measure", "spectrum_measures"]
