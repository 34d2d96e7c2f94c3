"""Experiment 1: the paper's part-based tagging on the job's ResNet (``experiments/reproduce.py``).

Left half at 6 Hz, right half at 7.5 Hz, 120 frames/s, 240 frames; every conv layer recorded before and after its
nonlinearity. Per layer: the fraction of units that respond (the design's rule: by default the amplitude test
across images, which does not depend on the recording length) at f1, f2, each harmonic order and intermodulation
of order 2, 3, 4, and the same under the EEG z rule; effect sizes (relative amplitudes, power shares,
intermodulation relative to the fundamentals); summed amplitude over harmonics (range fixed on the grand average);
SNR; the false-positive rate at off-lattice bins; and the collisions of the tag design.

Writes ``reproduce.json``, ``layer_fractions.png``, ``harmonic_orders.png``, ``spectrum_f1f2.png``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssvepjax.analysis.receptive import rf_class_summary
from ssvepjax.analysis.results import measure
from ssvepjax.analysis.summaries import layer_summary
from ssvepjax.experiments.config import JobConfig, job_settings, load_model
from ssvepjax.experiments.store import Store
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.report.tables import markdown_table
from ssvepjax.spectral.design import Design
from ssvepjax.spectral.fourier import frequencies
from ssvepjax.streaming.loop import probe_dataset
from ssvepjax.tagging.masks import halves
from ssvepjax.tagging.proposals import collisions, propose_design

__all__ = ["Config", "design_report", "report", "run", "token_groups"]

COLUMNS = [("f1", "f1"), ("f2", "f2"), ("2nd harm.", "harmonic_order.2"), ("3rd harm.", "harmonic_order.3"),
           ("IM2", "intermodulation_order2"), ("IM3", "intermodulation_order3"), ("IM4", "intermodulation_order4"),
           ("any IM", "any_intermodulation"), ("FP (off-lattice)", "false_positive_rate")]
Z_COLUMNS = [("z: f1", "z_rule.f1"), ("z: harm.", "z_rule.mean_harmonic"),
             ("z: IM2", "z_rule.intermodulation_order2"), ("z: any IM", "z_rule.any_intermodulation"),
             ("z: FP", "z_rule.false_positive_rate")]
TOKEN_COLUMNS = [("tokens", "positions"), ("f1", "f1"), ("f2", "f2"), ("f1+f2", "f1+f2"), ("f2-f1", "f2-f1"),
                 ("harm. (mean)", "mean_harmonic"), ("IM (mean)", "mean_intermodulation"),
                 ("any IM", "any_intermodulation")]
EFFECT_COLUMNS = [("rel. f1", "effects.relative.f1"), ("rel. f1+f2", "effects.relative.f1+f2"),
                  ("share fund.", "effects.share.fundamental"), ("share harm.", "effects.share.harmonic"),
                  ("share IM", "effects.share.intermodulation"), ("IM/fund.", "effects.im_ratio"),
                  ("summed amp. f1", "summed_amplitude.f1"), ("silent", "silent_fraction")]


@dataclasses.dataclass(frozen=True)
class Config(JobConfig):
    """The job's settings; 32 test images by default (``--quick``: ResNet-8, 4 images)."""

    n_images: int = 32
    out: str = "runs/reproduce"


def design_report(design: Design) -> dict:
    """Collisions of the design and the shortest collision-free alternative (``tagging.proposals``)."""
    t = design.tags
    every = collisions(t.freqs_hz, fps=t.fps, n_frames=t.n_frames, max_order=design.max_order)
    prop = propose_design(t.freqs_hz, max_order=design.max_order, fps=t.fps)
    prop_all = propose_design(t.freqs_hz, max_order=design.max_order, max_harmonic=int(t.fps / 2 / min(t.freqs_hz)),
                              fps=t.fps)
    return {
        "collisions": [dataclasses.asdict(c) for c in every],
        "proposal_up_to_order": dataclasses.asdict(prop),
        "proposal_all_harmonics": dataclasses.asdict(prop_all),
        "note": "exact coincidences (5f1 = 4f2 = 30 Hz) cannot be removed by any frame count; they are "
                "kept out of purely harmonic and purely intermodulation measures",
    }


def token_groups(cfg: Config, results: dict, masks) -> dict:
    """A transformer's tokens apart: per layer, the units of the class token and of the patch tokens over the left
    half, over both halves and over the right half (``ViTConfig.token_classes``), each summarised as a layer."""
    classes, names = cfg.model.token_classes(masks)
    out = {}
    for layer in cfg.model.recorded_layers():
        by = rf_class_summary(results[layer], cfg.design, classes, names)
        out[layer] = {name: e for name, e in by.items() if e["positions"]}
    return out


def run(cfg: Config, store: Store) -> dict:
    """Probe every recorded layer of the job's network (a CNN's convs before and after their nonlinearity, a
    transformer's sublayers) and summarise each layer; a transformer's token groups apart."""
    data, trained, images = load_model(cfg)
    h, w, _ = data.image_shape
    include = cfg.model.recorded_layers()
    nonlinear = cfg.model.nonlinear_layers()
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=include, train=False)
    design = cfg.design
    masks = halves(h, w)
    spec, relative = probe_dataset(fn, images, masks, design, relative=True, progress=cfg.progress)
    results = measure(spec, design, relative)
    summaries = {n: layer_summary(results[n], design) for n in include}
    tokens = token_groups(cfg, results, masks) if hasattr(cfg.model, "token_classes") else None
    # Rows named without the "/post" and "/pre" suffixes of the CNNs' layers.
    posts = {n.removesuffix("/post"): summaries[n] for n in nonlinear}
    pres = {n.removesuffix("/pre"): summaries[n] for n in include if n not in nonlinear}

    freqs = frequencies(design.tags.n_frames, design.tags.fps)
    last = nonlinear[-1]
    best = summaries[last]["strongest_units"].get("f1+f2") or summaries[last]["strongest_units"]["f1"]
    idx = tuple(best[0]["index"])
    figures = {
        "layer_fractions": plots.plot_layer_fractions(
            {n: summaries[n] for n in nonlinear}, str(store.path("layer_fractions.png")),
            title=f"{cfg.model.label} on {data.name}, {cfg.n_images} images, after the nonlinearities: units that "
                  f"respond ({design.significance} rule)"),
        "harmonic_orders": plots.plot_harmonic_orders(
            {n: posts[n] for n in list(posts)[:: max(1, len(posts) // 7)]}, str(store.path("harmonic_orders.png")),
            title="Units that respond at the n-th harmonic (mean over the two tags)"),
        "spectrum": plots.plot_spectrum(
            freqs, np.asarray(spec[last])[(slice(None), *idx)], design.components, str(store.path("spectrum_f1f2.png")),
            title=f"{last} unit {idx}: largest relative amplitude at f1+f2 ({best[0]['relative']:.3g}), "
                  f"mean of {cfg.n_images} images"),
    }
    return store.write({
        "experiment": "reproduce",
        "settings": job_settings(cfg, data, trained),
        "conventions": {
            "significant": design.rule,
            "z_rule": f"z > {design.noise.z_threshold} against {design.noise.n_neighbors} bins per side (skip "
                      f"{design.noise.skip}, component bins excluded), on amplitude spectra averaged over images; "
                      "depends on the recording length for a noise-free network",
            "harmonic_order": "fraction responding at n*f_tag, mean over tags; shared bins (30 Hz) left out",
            "intermodulation_orderK": "mean over the non-shared intermodulation components of order K",
            "effects": "median relative amplitude (amplitude / AC amplitude) and mean power shares over non-silent "
                       "units; IM/fund. = median sqrt(P_IM / P_fundamental)",
            "summed_amplitude": "Retter et al. 2021: amplitude summed over harmonics 1..n, n fixed on the grand "
                                "average (the layer's mean spectrum) and applied to every unit; mean over units",
            "snr": "median over units (units with zero noise have infinite SNR; mean_finite excludes them)",
            "false_positive_rate": "the rule at off-lattice bins, where no combination of the tags can respond",
        },
        "design": design_report(design),
        "components": [{"label": lab, "bin": int(b), "frequency_hz": float(freqs[b])}
                       for b, lab in zip(*design.bins()[:2])],
        "layers_post": posts,
        "layers_pre": pres,
        "table_post": markdown_table(posts, COLUMNS),
        "table_post_z": markdown_table(posts, Z_COLUMNS),
        "table_post_effects": markdown_table(posts, EFFECT_COLUMNS, digits=3),
        "table_pre": markdown_table(pres, COLUMNS),
        "token_groups": tokens,
        "table_tokens": None if tokens is None else markdown_table(
            {f"{layer} ({g})": e for layer, groups in tokens.items() for g, e in groups.items()}, TOKEN_COLUMNS),
        "figures": {k: str(v).rsplit("/", 1)[-1] for k, v in figures.items()},
        "seconds": round(store.seconds(), 1),
    })


def report(result: dict) -> str:
    """What the command line prints: the post-activation tables and the design's collisions."""
    s = result["settings"]
    return "\n".join([
        f"{s['model']['label']} on {s['dataset']['name']} (test accuracy {s['model']['test_accuracy']:.4f}), "
        f"{s['n_images']} images; post-activation:", result["table_post"], result["table_post_effects"],
        *([result["table_tokens"]] if result.get("table_tokens") else []),
        f"design collisions: {[c['labels'] for c in result['design']['collisions']]}"])
