"""From images to per-unit tag responses: tag, probe, spectrum, average over images, measure.

``spectra(fn, images, masks, tags)`` streams images one at a time through a jitted
tag -> probe -> amplitude-spectrum pass (``jnp.fft``, one stimulus period per image by default)
and averages the amplitude spectra of every unit over images (no time series of two images is ever
held at once). It is the plain reference path; ``stream.probe_dataset`` returns the same spectra
faster, in chunks, sharded and checkpointed. ``measure(...)`` then evaluates every component bin
and every noise-only bin of each unit (neuron), of each filter and of each layer.

Conventions, which the report repeats:
- Across images, amplitude spectra are averaged before SNR/z/BCA (each image is a different
  stimulus, so phases differ: averaging complex spectra would cancel true responses).
- A filter's spectrum is the mean of its neurons' amplitude spectra over spatial positions
  (spatial map first), not the spectrum of the spatially averaged series.
- A layer's spectrum is the mean amplitude spectrum over all its units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssvepjax import frequency_components as C
from ssvepjax.probe import recorder
from ssvepjax.spectral import NoiseConfig, _amplitude, _noise_stats, _repeat_bins
from ssvepjax.stimulus import TagConfig, check_image, check_masks


@dataclasses.dataclass(frozen=True)
class Design:
    """Tags, components and noise settings of an analysis (static)."""

    tags: TagConfig = TagConfig()
    noise: NoiseConfig = NoiseConfig()
    max_order: int = 4

    @property
    def components(self) -> list[C.Component]:
        return C.components(self.tags.freqs_hz, fps=self.tags.fps, n_frames=self.tags.n_frames,
                            max_order=self.max_order)

    @property
    def n_bins(self) -> int:
        return self.tags.n_frames // 2 + 1

    def bins(self, lattice: str = "off"):
        """``(component_bins, labels, noise_bins)``: distinct component bins and noise-only bins
        (``lattice`` as in ``components.noise_bins``: "off" gives the false-positive bins)."""
        comps = self.components
        cb, labels = C.component_bins(comps)
        nb = C.noise_bins(comps, self.tags.n_frames, n_neighbors=self.noise.n_neighbors, skip=self.noise.skip,
                          lattice=lattice)
        return cb, labels, nb


def design_key(design: Design, *parts) -> str:
    """A short hash of a design and any other settings (names checkpoint folders)."""
    import hashlib
    import json

    desc = json.dumps([dataclasses.asdict(design), *[str(p) for p in parts]], sort_keys=True)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def spectrum_fn(fn: Callable, masks, tags: TagConfig, *, one_period: bool = True) -> Callable:
    """A jitted ``image [H, W, C] -> {layer: amplitude [K, ...unit dims]}`` for one image.

    With ``one_period`` (default) only the ``tags.period_frames`` frames of one stimulus period go
    through ``fn`` and the spectrum of the ``tags.repeats`` periods follows exactly from theirs
    (``spectral.repeated_spectrum``): the same result for any deterministic ``fn``, at
    ``1 / tags.repeats`` of the cost (a third for the default design). ``one_period=False`` runs
    every frame.
    """
    record = recorder(fn, masks, tags, one_period=one_period)
    repeats = tags.repeats if one_period else 1

    @jax.jit
    def run(image):
        acts = record(image)
        return {k: _repeat_bins(_amplitude(v, 0), repeats, 0, tags.n_frames // 2 + 1) for k, v in acts.items()}

    return run


def spectra(
    fn: Callable,
    images: np.ndarray,
    masks,
    tags: TagConfig = TagConfig(),
    *,
    progress: bool = True,
    one_period: bool = True,
) -> dict[str, jax.Array]:
    """Image-averaged amplitude spectra of every unit that ``fn`` returns.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation}`` (e.g. ``linen_fn``).
        images: ``[N, H, W, C]`` in [0, 1].
        masks: ``[P, H, W]`` part masks, one per tag.
        tags: the tag design.
        progress: show a progress bar over images.
        one_period: run one period of the stimulus and derive the spectrum of all ``n_frames``
            from it (exact, ``tags.repeats`` times cheaper; :func:`spectrum_fn`).

    Returns:
        ``{layer: [K, ...unit dims]}`` mean amplitude spectra (``K = n_frames // 2 + 1``).
    """
    check_image(images, "images", "N, H, W, C")
    n, h, w, _ = np.shape(images)
    masks = check_masks(masks, h, w, n_parts=len(tags.freqs_hz))
    run = spectrum_fn(fn, masks, tags, one_period=one_period)
    total = None
    for i in tqdm(range(n), desc="probe images", disable=not progress, leave=False):
        s = run(jnp.asarray(images[i], jnp.float32))
        total = s if total is None else jax.tree.map(jnp.add, total, s)
    out = jax.tree.map(lambda a: a / n, total)
    bad = [k for k, v in out.items() if not bool(jnp.all(jnp.isfinite(v)))]
    if bad:
        raise ValueError(f"activations of {bad} hold NaN or infinite values")
    return out


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


def _measures(spec, bins, noise: NoiseConfig):
    mu, sigma = _noise_stats(spec, tuple(int(b) for b in bins), noise.n_neighbors, noise.skip,
                             noise.drop_extremes, 0)
    a = spec[np.asarray(bins)]
    return {"amplitude": a, "snr": a / mu, "bca": a - mu, "z": (a - mu) / sigma}


_measures_jit = jax.jit(_measures, static_argnums=(1, 2))


def measure(spec: dict[str, jax.Array], design: Design = Design()) -> dict[str, LayerResult]:
    """Neuron, filter and layer measures at every component bin of every layer."""
    cb, _, nb = design.bins()
    hb = design.bins("on")[2]
    cb_t, nb_t, hb_t = (tuple(int(b) for b in bins) for bins in (cb, nb, hb))
    out = {}
    for name, s in spec.items():
        if s.shape[0] != design.n_bins:
            raise ValueError(f"spectrum of {name} has {s.shape[0]} bins, the design has {design.n_bins}")
        fs = s.reshape(s.shape[0], -1, s.shape[-1]).mean(1) if s.ndim >= 2 else s[:, None]
        ls = s.reshape(s.shape[0], -1).mean(1)
        neuron = _measures_jit(s, cb_t, design.noise)
        noise_z, lattice_z = (_measures_jit(s, b, design.noise)["z"] if b else jnp.zeros((0, *s.shape[1:]))
                              for b in (nb_t, hb_t))
        out[name] = LayerResult(
            name, tuple(s.shape[1:]),
            {k: np.asarray(v) for k, v in neuron.items()}, np.asarray(noise_z), np.asarray(lattice_z),
            np.asarray(fs), {k: np.asarray(v) for k, v in _measures_jit(fs, cb_t, design.noise).items()},
            np.asarray(ls), {k: np.asarray(v) for k, v in _measures_jit(ls, cb_t, design.noise).items()},
        )
    return out


def significance_summary(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """Fractions of significant units (z > threshold) of one layer, per component and per kind.

    "Per kind" values are means over the non-shared components of that kind of the fraction of units
    significant at each, so they compare with ``false_positive_rate`` (the same fraction at noise-only
    bins). ``any_*`` is the fraction of units significant at one or more components of the kind.
    """
    thr = design.noise.z_threshold
    comps = design.components
    cb, labels, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    z = res.neuron["z"].reshape(len(cb), -1)
    sig = np.nan_to_num(z, nan=-np.inf) > thr
    frac = sig.mean(1)
    per_comp = {labels[i]: float(frac[i]) for i in range(len(cb))}
    out = {"n_units": res.n_units, "unit_shape": list(res.unit_shape), "per_component": per_comp}
    for i in range(len(design.tags.freqs_hz)):
        out[f"f{i + 1}"] = float(frac[row[design.tags.tag_bins[i]]])
    for kind in (C.HARMONIC, C.INTERMODULATION):
        rows = [row[b] for b in C.unique_bins(comps, kind, include_shared=False)]
        out[f"mean_{kind}"] = float(frac[rows].mean()) if rows else float("nan")
        out[f"any_{kind}"] = float(sig[rows].any(0).mean()) if rows else float("nan")
    by_order = {}
    for c in comps:
        if c.kind == C.INTERMODULATION and not c.shared:
            by_order.setdefault(c.order, set()).add(row[c.bin])
    for o, rows in sorted(by_order.items()):
        out[f"intermodulation_order{o}"] = float(frac[sorted(rows)].mean())
    for key, zz in (("false_positive_rate", res.neuron_noise_z), ("higher_order_rate", res.neuron_lattice_z)):
        zz = np.nan_to_num(zz.reshape(zz.shape[0], -1), nan=-np.inf)
        out[key] = float((zz > thr).mean()) if zz.size else float("nan")
    amp = res.neuron["amplitude"].reshape(len(cb), -1)
    out["silent_fraction"] = float((amp.max(0) == 0).mean())
    snr = res.neuron["snr"].reshape(len(cb), -1)
    # Units that see one part only respond with zero noise around their tag (a deterministic network
    # has no noise): their SNR is infinite, so the robust median summarises SNR, not the mean.
    out["median_snr"] = {lab: float(np.nanmedian(snr[row[b]])) for b, lab in
                         ((design.tags.tag_bins[i], f"f{i + 1}") for i in range(len(design.tags.freqs_hz)))}
    out["strongest_units"] = strongest_units(res, design, top_k)
    return out


def strongest_units(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """The ``top_k`` units by z at each tag and at f1+f2 (if two tags): index, z and SNR."""
    cb, labels, _ = design.bins()
    out = {}
    targets = [f"f{i + 1}" for i in range(len(design.tags.freqs_hz))]
    if len(targets) >= 2:
        targets.append("f1+f2")
    for lab in targets:
        i = next((j for j, lb in enumerate(labels) if lab in lb.split("=")), None)
        if i is None:
            continue
        z = np.nan_to_num(res.neuron["z"][i].reshape(-1), nan=-np.inf)
        b = np.nan_to_num(res.neuron["bca"][i].reshape(-1), nan=-np.inf)
        top = np.lexsort((-b, -z))[:top_k]  # by z, ties (infinite z: zero noise) by BCA
        out[lab] = [
            {"index": [int(v) for v in np.unravel_index(t, res.unit_shape)], "z": float(z[t]),
             "snr": float(res.neuron["snr"][i].reshape(-1)[t]), "bca": float(b[t])}
            for t in top if z[t] > -np.inf
        ]
    return out
