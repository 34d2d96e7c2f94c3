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

from ssvepjax.analysis.effects import unit_effects
from ssvepjax.spectral.design import Design, as_design
from ssvepjax.spectral.noise import NoiseConfig, check_measures, measures_from_rows
from ssvepjax.stats.amplitude import amplitude_test
from ssvepjax.stats.fdr import fdr_bh
from ssvepjax.streaming.loop import probe_dataset


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
        effects: the T-invariant effect sizes of every neuron (``analysis.effects.unit_effects``): ``ac``,
            ``relative`` ``[m, *unit_shape]``, ``share`` per kind, ``im_ratio``.
        neuron_noise_relative: ``[q, *unit_shape]`` relative amplitude at the off-lattice bins (0 for a
            noise-free network: the false-positive reference of the amplitude rule).
        test: the amplitude test across images at the component bins, ``{"mean", "t", "p", "q", "reject"}``
            each ``[m, *unit_shape]`` (``stats.amplitude``; q and reject: BH FDR ``design.alpha`` over the
            units of the layer per component); None when ``measure`` had no per-image moments.
        bins: what the m rows of every ``[m, ...]`` array are: the distinct component bins
            (``components(...)`` lists components, several of which can share one bin: index rows by these).
        labels: one label per row (``"4f2=5f1"`` where components share a bin).
        freqs_hz: the rows' frequencies in Hz.
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
    effects: dict = dataclasses.field(default_factory=dict)
    neuron_noise_relative: np.ndarray | None = None
    test: dict | None = None
    bins: np.ndarray | None = None
    labels: list[str] = dataclasses.field(default_factory=list)
    freqs_hz: np.ndarray | None = None

    def row(self, label: str) -> int:
        """The row of component ``label`` (e.g. ``"f1+f2"``, or ``"5f1"`` of a shared bin); ValueError if absent."""
        for i, lab in enumerate(self.labels):
            if label in lab.split("="):
                return i
        raise ValueError(f"unknown component label {label!r}; this result's rows are {self.labels}")

    @property
    def n_units(self) -> int:
        return int(np.prod(self.unit_shape))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _measures(spec, bins: tuple[int, ...], noise: NoiseConfig, names: tuple[str, ...], exclude: tuple[int, ...]):
    """``{name: [m, *unit_shape]}`` at ``bins`` of a spectrum ``[K, *unit_shape]``."""
    rows = spec.reshape(spec.shape[0], -1)
    out = measures_from_rows(rows, np.arange(spec.shape[0]), bins, noise, names, exclude=exclude)
    return {k: v.reshape(len(bins), *spec.shape[1:]) for k, v in out.items()}


def _check_spectra(spec: dict, design: Design) -> None:
    if isinstance(spec, tuple):
        raise ValueError("spec is a tuple: probe_dataset(..., relative=True) returns (spectra, relative); pass "
                         "measure(spectra, design, relative)")
    if not isinstance(spec, dict) or not spec:
        raise ValueError("spec must be a non-empty dict {layer: [K, *unit_shape]} (from probe_dataset)")
    for name, s in spec.items():
        if np.ndim(s) < 1 or np.shape(s)[0] != design.n_bins:
            raise ValueError(f"spectrum of {name} has shape {np.shape(s)}: the design has {design.n_bins} bins "
                             f"on the first axis")


def measure(spec: dict[str, Array], design: Design = Design(), relative: dict | None = None
            ) -> dict[str, LayerResult]:
    """Neuron, filter and layer measures at every component bin of every layer (module docstring).

    Args:
        spec: ``{layer: [K, *unit_shape]}`` image-averaged amplitude spectra (``streaming.probe_dataset``).
        design: the analysis design.
        relative: ``{layer: {"n", "sum", "sumsq"}}`` per-image relative-amplitude moments at the component
            bins (``probe_dataset(..., relative=True)``): adds the amplitude test across images.

    Returns:
        ``{layer: LayerResult}``.
    """
    design = as_design(design)
    _check_spectra(spec, design)
    if relative is not None:
        if set(relative) != set(spec):
            raise ValueError(f"relative has layers {sorted(relative)}, spec {sorted(spec)}: they must match")
        m = len(design.bins()[0])
        bad = [k for k, v in relative.items() if np.shape(v["sum"])[:1] != (m,)]
        if bad:
            raise ValueError(f"relative moments of {bad} are not at the design's {m} component bins")
    cb, labels, nb = design.bins()
    hb = design.bins("on")[2]
    cb_t, nb_t, hb_t = (tuple(int(b) for b in bins) for bins in (cb, nb, hb))
    every = ("amplitude", "snr", "bca", "z")
    ex = design.excluded_bins()
    out = {}
    for name, s in spec.items():
        s = jnp.asarray(s)
        fs = s.reshape(s.shape[0], -1, s.shape[-1]).mean(1) if s.ndim >= 2 else s[:, None]
        ls = s.reshape(s.shape[0], -1).mean(1)
        noise_z, lattice_z = (np.asarray(_measures(s, b, design.noise, ("z",), ex)["z"]) if b
                              else np.zeros((0, *s.shape[1:]), np.float32) for b in (nb_t, hb_t))
        effects = unit_effects(s, design)
        ac = effects["ac"]
        noise_rel = np.asarray(s)[np.asarray(nb_t, dtype=np.int64)] / np.where(ac > 0, ac, np.inf)
        out[name] = LayerResult(
            name, tuple(s.shape[1:]),
            {k: np.asarray(v) for k, v in _measures(s, cb_t, design.noise, every, ex).items()}, noise_z, lattice_z,
            np.asarray(fs), {k: np.asarray(v) for k, v in _measures(fs, cb_t, design.noise, every, ex).items()},
            np.asarray(ls), {k: np.asarray(v) for k, v in _measures(ls, cb_t, design.noise, every, ex).items()},
            effects, noise_rel, None if relative is None else _amplitude_test(relative[name], design),
            cb, list(labels), cb * design.tags.resolution_hz,
        )
    return out


def _amplitude_test(moments: dict, design: Design) -> dict:
    mean, t, p = amplitude_test(moments, design.detection_limit)
    shape = np.shape(p)
    reject, q = fdr_bh(np.asarray(p).reshape(shape[0], -1), design.alpha, axis=1)
    return {"mean": np.asarray(mean), "t": np.asarray(t), "p": np.asarray(p), "q": np.asarray(q).reshape(shape),
            "reject": np.asarray(reject).reshape(shape)}


def analyse(fn, images, masks, design: Design = Design(), **probe_kwargs) -> dict[str, LayerResult]:
    """Probe ``images`` and measure every layer: ``measure(*probe_dataset(..., relative=True), design)``.

    The short path from a per-frame function to per-unit results with the design's significance rule
    (the amplitude test needs the per-image moments that ``relative=True`` collects). ``probe_kwargs`` go to
    ``streaming.probe_dataset`` (``chunk_size``, ``mesh``, ``progress``, ``one_period``, ...).
    """
    spec, relative = probe_dataset(fn, images, masks, design, relative=True, **probe_kwargs)
    return measure(spec, design, relative)


def spectrum_measures(spec: PyTree, design: Design = Design(), *, measures=("amplitude", "snr", "z")) -> PyTree:
    """Per-neuron measures at the component bins from spectra ``{layer: [K, *unit_shape]}``.

    The neuron part of :func:`measure` (``LayerResult.neuron``) without the filter, layer and noise-bin
    measures: ``{layer: {measure: [m, *unit_shape]}}`` as jax Arrays, for the m bins ``design.bins()[0]``.
    """
    names = check_measures(measures)
    _check_spectra(spec, design)
    bins = tuple(int(b) for b in design.bins()[0])
    ex = design.excluded_bins()
    return {k: _measures(jnp.asarray(s), bins, design.noise, names, ex) for k, s in spec.items()}


__all__ = ["LayerResult", "analyse", "measure", "spectrum_measures"]
