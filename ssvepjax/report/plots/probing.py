"""Figures of probing: spectra with components marked, per-layer fractions, maps, conditions, receptive fields."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssvepjax.report.plots.common import plt, save_figure, short_layer_name
from ssvepjax.tagging import frequency_components as C

KIND_COLORS = {C.FUNDAMENTAL: "tab:red", C.HARMONIC: "tab:orange", C.INTERMODULATION: "tab:blue"}


def _place_labels(xs: np.ndarray, ys: np.ndarray, min_gap: float) -> np.ndarray:
    """Heights for labels at ``xs`` above points ``ys`` so that labels closer than ``min_gap`` stack."""
    order = np.argsort(xs)
    levels = np.zeros(len(xs), int)
    for n, i in enumerate(order):
        taken = {levels[j] for j in order[:n] if abs(xs[j] - xs[i]) < min_gap}
        while levels[i] in taken:
            levels[i] += 1
    return levels


def plot_spectrum(
    freqs_hz: np.ndarray,
    amplitude: np.ndarray,
    comps: Sequence[C.Component],
    path: str,
    *,
    title: str = "",
    max_labels: int = 14,
    ylabel: str = "amplitude (activation units)",
) -> str:
    """Amplitude spectrum ``[K]`` as stems, components coloured by kind and labelled; linear and log panels.

    A noise-free network's spectrum is exactly 0 between the components, so every bin is a stem (a connected
    line would draw each response as a triangle). The ``max_labels`` largest components are labelled (every
    label of a shared bin, e.g. ``4f2=5f1``), stacked where they would overlap; the log panel shows and labels
    every component, the small ones the linear panel cannot.
    """
    amplitude = np.asarray(amplitude, np.float64)
    by_bin: dict[int, C.Component] = {}
    for c in comps:
        by_bin.setdefault(c.bin, c)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    k = np.arange(1, len(amplitude))
    other = [b for b in k if b not in by_bin and amplitude[b] > 0]
    for ax, log in zip(axes, (False, True)):
        ax.vlines(freqs_hz[other], 0 if not log else 1e-30, amplitude[other], color="0.6", lw=0.8,
                  label="other bins" if not log else None)
        for kind in C.KINDS:
            bins = [b for b, c in by_bin.items() if c.kind == kind and not c.shared]
            ax.vlines(freqs_hz[bins], 0 if not log else 1e-30, amplitude[bins], color=KIND_COLORS[kind], lw=1.6,
                      label=kind if not log else None)
            ax.plot(freqs_hz[bins], amplitude[bins], "o", ms=3, color=KIND_COLORS[kind])
        shared = [b for b, c in by_bin.items() if c.shared]
        ax.vlines(freqs_hz[shared], 0 if not log else 1e-30, amplitude[shared], color="tab:green", lw=1.6,
                  label="shared bin" if not log else None)
        ax.plot(freqs_hz[shared], amplitude[shared], "o", ms=3, color="tab:green")
        ax.grid(alpha=0.3)
    top = float(amplitude[1:].max()) if len(amplitude) > 1 else 0.0
    axes[0].set_ylim(0, top * 1.35 if top > 0 else 1)
    positive = amplitude[1:][amplitude[1:] > 0]
    axes[1].set_yscale("log")
    axes[1].set_ylim(max(positive.min() * 0.5, top * 1e-6) if positive.size else 1e-6, top * 2 if top > 0 else 1)
    labelled = sorted((b for b in by_bin if amplitude[b] > 0), key=lambda b: -amplitude[b])[:max_labels]
    if labelled:
        xs = freqs_hz[labelled]
        levels = _place_labels(xs, amplitude[labelled], min_gap=0.04 * freqs_hz[-1])
        for b, lvl in zip(labelled, levels):
            c = by_bin[b]
            text = "=".join(c.labels) if c.labels else c.label
            axes[0].annotate(text, (freqs_hz[b], amplitude[b]), xytext=(0, 4 + 10 * lvl), textcoords="offset points",
                             ha="center", fontsize=7, color="tab:green" if c.shared else KIND_COLORS[c.kind])
    for b, c in by_bin.items():  # every component in the log panel, rotated
        if amplitude[b] > 0:
            axes[1].annotate("=".join(c.labels) if c.labels else c.label, (freqs_hz[b], amplitude[b]), xytext=(0, 3),
                             textcoords="offset points", ha="center", va="bottom", rotation=90, fontsize=6,
                             color="tab:green" if c.shared else KIND_COLORS[c.kind])
    axes[1].set_ylim(axes[1].get_ylim()[0], axes[1].get_ylim()[1] * 30)
    axes[0].set_xlim(0, freqs_hz[-1])
    axes[0].set_ylabel(ylabel)
    axes[1].set_ylabel("amplitude (log scale)")
    axes[1].set_xlabel("frequency (Hz)")
    axes[0].set_title(title, fontsize=10)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_layer_fractions(summaries: dict[str, dict], path: str, *, title: str = "",
                         ylabel: str = "fraction of the layer's units") -> str:
    """Fraction of units that respond per layer at f1, f2, harmonics, intermodulation and off-lattice bins.

    Args:
        summaries: ``{layer: significance_summary(...)}`` in forward order.
        ylabel: what the fractions count (the rule).
    """
    names = list(summaries)
    x = np.arange(len(names))
    series = [("f1", "f1", "tab:red", "-", "o"), ("f2", "f2", "tab:purple", "-", "o"),
              ("mean_harmonic", "harmonics (mean per component)", "tab:orange", "-", "s"),
              ("any_intermodulation", "intermodulation (any component)", "tab:blue", "-", "^"),
              ("mean_intermodulation", "intermodulation (mean per component)", "tab:green", "--", "v"),
              ("false_positive_rate", "off-lattice bins (false positives)", "black", ":", "x")]
    fig, ax = plt.subplots(figsize=(max(9, 0.3 * len(names) + 3), 4.8))
    stages = [n.split("_")[0] for n in names]
    for k, st in enumerate(dict.fromkeys(stages)):  # shade alternate stages
        idx = [i for i, s in enumerate(stages) if s == st]
        if k % 2:
            ax.axvspan(idx[0] - 0.5, idx[-1] + 0.5, color="0.93", zorder=0)
    for key, label, color, ls, marker in series:
        ax.plot(x, [summaries[n].get(key, np.nan) for n in names], marker=marker, ms=4, lw=1.4, label=label,
                color=color, ls=ls, zorder=3 if key == "false_positive_rate" else 2)
    ax.set_xticks(x)
    ax.set_xticklabels([short_layer_name(n) for n in names], rotation=60, fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylim(-0.03, 1.0)
    ax.set_xlabel("layer (s = stage, b = block, c = conv; shaded: alternate stages)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_maps(maps: dict[str, dict[str, np.ndarray]], path: str, *, title: str = "", vmin: float = 0.0,
              vmax: float = 1.0, colorbar_label: str = "", splits: Sequence[float] = (), bad_label: str = "",
              cmap: str = "magma") -> str:
    """Spatial maps on one shared colour scale: rows are layers, columns components.

    Args:
        maps: ``{layer: {component_label: [h, w] map}}``; NaN cells are drawn in light grey (``bad_label``).
        vmin, vmax: the colour scale of every panel (values outside are clipped to its ends).
        colorbar_label: what the colour means.
        splits: where vertical parts meet, as fractions of the width (``(0.5,)`` for halves): dashed lines.
        cmap: a matplotlib colour map.
    """
    layers = list(maps)
    cols = list(next(iter(maps.values())))
    fig, axes = plt.subplots(len(layers), len(cols), figsize=(2.7 * len(cols) + 1.6, 2.5 * len(layers) + 0.6),
                             squeeze=False)
    colours = plt.get_cmap(cmap).copy()
    colours.set_bad("0.82")
    im = None
    for i, layer in enumerate(layers):
        for j, lab in enumerate(cols):
            ax = axes[i, j]
            m = np.asarray(maps[layer][lab], np.float64)
            h, w = m.shape
            im = ax.imshow(np.ma.masked_invalid(m), cmap=colours, vmin=vmin, vmax=vmax, interpolation="nearest")
            for f in splits:
                ax.axvline(f * w - 0.5, color="white", ls="--", lw=1)
            ax.set_xticks([0, w - 1])
            ax.set_yticks([0, h - 1])
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_title(lab, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{short_layer_name(layer)}\nrow", fontsize=8)
            if i == len(layers) - 1:
                ax.set_xlabel("column", fontsize=8)
    cbar = fig.colorbar(im, ax=axes, fraction=0.035, pad=0.03)
    cbar.set_label(colorbar_label, fontsize=9)
    if bad_label:
        fig.text(0.01, 0.01, f"grey: {bad_label}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_conditions(
    table: dict[str, dict[str, dict]], path: str, *,
    keys: Sequence[tuple[str, str]] = (("f1", "f1"), ("f2", "f2"), ("mean_harmonic", "harmonics (mean)"),
                                       ("mean_intermodulation", "intermodulation (mean)"),
                                       ("false_positive_rate", "off-lattice bins (false positives)")),
    title: str = "",
) -> str:
    """One panel per measure: fraction of significant units across layers, one line per condition.

    Args:
        table: ``{condition: {layer: summary}}`` with the layers in forward order.
        keys: ``(summary key, panel title)`` pairs.
    """
    conds = list(table)
    layers = list(next(iter(table.values())))
    x = np.arange(len(layers))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.6), sharey=True, squeeze=False)
    for ax, (key, name) in zip(axes[0], keys):
        for i, c in enumerate(conds):  # the first condition thick, the others dashed, so that equal lines show
            ax.plot(x, [table[c][n].get(key, np.nan) for n in layers], marker="os^vD"[i % 5], ms=2.5,
                    lw=2.6 if i == 0 else 1.1, ls="-" if i == 0 else (0, (4, 1 + i % 3)), label=c)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(x[:: max(1, len(x) // 8)])
        ax.set_xticklabels([layers[i].removesuffix("/post") for i in x[:: max(1, len(x) // 8)]], rotation=75,
                           fontsize=6)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("fraction of the layer's units that respond")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_harmonic_orders(summaries: dict[str, dict], path: str, *, title: str = "") -> str:
    """Fraction of significant units at each harmonic order (x) for several layers (lines).

    Args:
        summaries: ``{layer: controls.layer_summary(...)}`` (needs ``harmonic_order``).
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    cmap = plt.get_cmap("viridis")
    for i, (name, s) in enumerate(summaries.items()):
        orders = sorted(int(k) for k in s["harmonic_order"])
        ax.plot(orders, [s["harmonic_order"][k] if k in s["harmonic_order"] else s["harmonic_order"][str(k)]
                         for k in orders], marker="o", ms=3, color=cmap(i / max(1, len(summaries) - 1)),
                label=name.removesuffix("/post"))
    ax.set_xlabel("harmonic order n (n * f_tag; shared bins left out)")
    ax.set_ylabel("fraction of the layer's units that respond")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def plot_depth_profiles(profiles: dict[str, dict[str, tuple]], path: str, *, title: str = "") -> str:
    """Measures of several networks against relative depth, one panel per measure, one line per network.

    Args:
        profiles: ``{measure: {network: (relative depths [n] in [0, 1], values [n], layer names [n])}}``.
    """
    fig, axes = plt.subplots(1, len(profiles), figsize=(5.2 * len(profiles), 4), squeeze=False)
    markers = "osD^v"
    for ax, (measure, nets) in zip(axes[0], profiles.items()):
        for i, (net, (depth, values, _)) in enumerate(nets.items()):
            ax.plot(depth, values, marker=markers[i % len(markers)], ms=4, label=net)
        ax.set_xlabel("relative depth (first recorded layer 0, last 1)")
        ax.set_title(measure, fontsize=9)  # a title, not a y label: the measures' names are long
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_rf_classes(summary: dict[str, dict[str, dict]], path: str, *,
                    keys: Sequence[str] = ("f1", "f2", "f1+f2", "any_intermodulation", "false_positive_rate"),
                    title: str = "") -> str:
    """Grouped bars: per layer (panel) and receptive-field class (group), fractions of significant units.

    Args:
        summary: ``{layer: analysis.receptive.rf_class_summary(...)}``.
    """
    layers = list(summary)
    fig, axes = plt.subplots(1, len(layers), figsize=(3.3 * len(layers), 3.6), sharey=True, squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, layer in zip(axes[0], layers):
        classes = [c for c, e in summary[layer].items() if e.get("positions")]
        width = 0.8 / len(keys)
        for j, key in enumerate(keys):
            vals = [summary[layer][c].get(key, np.nan) for c in classes]
            ax.bar(np.arange(len(classes)) + (j - (len(keys) - 1) / 2) * width, vals, width, color=colors(j),
                   label=key)
        ax.set_xticks(np.arange(len(classes)))
        ax.set_xticklabels([f"{c}\n({summary[layer][c]['positions']} pos.)" for c in classes], fontsize=7)
        ax.set_title(layer.removesuffix("/post"), fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].set_ylabel("fraction of the layer's units that respond")
    # One legend for all panels, below them: inside a panel it hides bars.
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, [n.replace("_", " ") for n in names], loc="lower center", ncol=len(keys), fontsize=8,
               frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, path)


def plot_column_profiles(profiles: dict[str, dict[str, np.ndarray]], path: str, *,
                         both: dict[str, tuple[int, int]] | None = None, title: str = "") -> str:
    """Fraction of significant units per column, one panel per layer, one line per component.

    Args:
        profiles: ``{layer: {label: [w] fractions}}``.
        both: ``{layer: (first, last)}`` columns whose receptive field covers both parts (shaded).
    """
    layers = list(profiles)
    fig, axes = plt.subplots(1, len(layers), figsize=(3.3 * len(layers), 3.2), sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers):
        for lab, prof in profiles[layer].items():
            ax.plot(np.arange(len(prof)), prof, marker=".", ms=3, lw=1, label=lab)
        if both and layer in both and both[layer][0] <= both[layer][1]:
            ax.axvspan(both[layer][0] - 0.5, both[layer][1] + 0.5, color="0.85", zorder=0,
                       label="RF covers both halves")
        ax.set_title(layer.removesuffix("/post"), fontsize=9)
        ax.set_xlabel("column of the layer")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("fraction of the layer's units that respond")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_detections(table: dict[str, dict[str, dict]], path: str, *,
                    keys: Sequence[str] = ("z_rule", "hotelling_fdr", "circular_fdr"), title: str = "") -> str:
    """Per layer (panel), per tested bin (group): fraction of units detected by each method.

    Args:
        table: ``{layer: trials.compare_detections(...)}``.
    """
    layers = list(table)
    fig, axes = plt.subplots(len(layers), 1, figsize=(9, 2.1 * len(layers) + 0.8), sharex=True, squeeze=False,
                             layout="constrained")
    colors = {"z_rule": "tab:red", "hotelling_fdr": "tab:blue", "circular_fdr": "tab:cyan",
              "hotelling_p05": "tab:purple", "amplitude_fdr": "tab:green"}
    for ax, layer in zip(axes[:, 0], layers):
        labels = list(table[layer])
        width = 0.8 / len(keys)
        for j, key in enumerate(keys):
            ax.bar(np.arange(len(labels)) + (j - (len(keys) - 1) / 2) * width,
                   [table[layer][lab][key] for lab in labels], width, label=key, color=colors.get(key))
        ax.set_ylabel(layer.removesuffix("/post"), fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, axis="y")
    axes[-1, 0].set_xticks(np.arange(len(labels)))
    axes[-1, 0].set_xticklabels(labels, rotation=60, fontsize=7)
    axes[0, 0].legend(fontsize=7, ncol=len(keys))
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
