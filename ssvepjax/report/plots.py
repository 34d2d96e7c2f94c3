"""Figures a person can read: spectra with components marked, per-layer fractions, SNR maps.

Every function takes plain arrays, draws one matplotlib figure, writes it as PNG (atomically) and
returns the path. The Agg backend is used, so no display is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ssvepjax.tagging import frequency_components as C  # noqa: E402

KIND_COLORS = {C.FUNDAMENTAL: "tab:red", C.HARMONIC: "tab:orange", C.INTERMODULATION: "tab:blue"}


def save(fig, path: str) -> str:
    """Write ``fig`` to ``path`` as PNG through a temporary file, then close it."""
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_spectrum(
    freqs_hz: np.ndarray,
    amplitude: np.ndarray,
    comps: Sequence[C.Component],
    path: str,
    *,
    title: str = "",
    max_label_order: int = 3,
    ylabel: str = "amplitude (activation units)",
) -> str:
    """Amplitude spectrum ``[K]`` with fundamentals, harmonics and intermodulation marked."""
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(freqs_hz[1:], amplitude[1:], color="0.25", lw=0.9)
    top = float(np.max(amplitude[1:])) if amplitude.size > 1 else 1.0
    seen = set()
    for c in comps:
        color = KIND_COLORS[c.kind]
        ax.axvline(c.frequency_hz, color=color, lw=0.8, alpha=0.35, zorder=0,
                   label=c.kind if c.kind not in seen else None)
        seen.add(c.kind)
        if c.order <= max_label_order and c.labels[0] == c.label:
            ax.annotate("=".join(c.labels), (c.frequency_hz, amplitude[c.bin]), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=7, color=color)
    ax.set_xlim(0, freqs_hz[-1])
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return save(fig, path)


def plot_layer_fractions(summaries: dict[str, dict], path: str, *, title: str = "") -> str:
    """Fraction of significant units per layer at f1, f2, harmonics, intermodulation and noise bins.

    Args:
        summaries: ``{layer: significance_summary(...)}`` in forward order.
    """
    names = list(summaries)
    x = np.arange(len(names))
    series = [("f1", "f1", "tab:red"), ("f2", "f2", "tab:purple"),
              ("mean_harmonic", "harmonics (mean per component)", "tab:orange"),
              ("mean_intermodulation", "intermodulation (mean per component)", "tab:blue"),
              ("any_intermodulation", "intermodulation (any component)", "tab:cyan"),
              ("false_positive_rate", "noise-only bins (false positives)", "0.5")]
    fig, ax = plt.subplots(figsize=(max(8, 0.28 * len(names) + 3), 4.5))
    for key, label, color in series:
        ax.plot(x, [summaries[n].get(key, np.nan) for n in names], marker="o", ms=3, label=label, color=color,
                ls="--" if key == "false_positive_rate" else "-")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=75, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of units with z > threshold")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return save(fig, path)


def plot_snr_maps(maps: dict[str, dict[str, np.ndarray]], path: str, *, title: str = "") -> str:
    """Spatial SNR maps: rows are layers, columns components.

    Args:
        maps: ``{layer: {component_label: [h, w] map}}`` (e.g. channel-mean SNR per position).
    """
    layers = list(maps)
    cols = list(next(iter(maps.values())))
    fig, axes = plt.subplots(len(layers), len(cols), figsize=(3.1 * len(cols), 2.8 * len(layers)),
                             squeeze=False)
    for i, layer in enumerate(layers):
        for j, lab in enumerate(cols):
            ax = axes[i, j]
            m = maps[layer][lab]
            im = ax.imshow(m, cmap="magma", vmin=0, vmax=max(float(np.nanmax(m)), 1e-9) if np.isfinite(m).any()
                           else 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(lab)
            if j == 0:
                ax.set_ylabel(layer, fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title)
    return save(fig, path)


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
        for c in conds:
            ax.plot(x, [table[c][n].get(key, np.nan) for n in layers], marker="o", ms=2.5, lw=1.2, label=c)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(x[:: max(1, len(x) // 8)])
        ax.set_xticklabels([layers[i].removesuffix("/post") for i in x[:: max(1, len(x) // 8)]], rotation=75,
                           fontsize=6)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("fraction of units with z > threshold")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


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
    ax.set_ylabel("fraction of units with z > threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def plot_rf_classes(summary: dict[str, dict[str, dict]], path: str, *,
                    keys: Sequence[str] = ("f1", "f2", "f1+f2", "any_intermodulation", "false_positive_rate"),
                    title: str = "") -> str:
    """Grouped bars: per layer (panel) and receptive-field class (group), fractions of significant units.

    Args:
        summary: ``{layer: controls.rf_class_summary(...)}``.
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
    axes[0, 0].set_ylabel("fraction of units with z > threshold")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


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
    axes[0, 0].set_ylabel("fraction of units with z > threshold")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def plot_detections(table: dict[str, dict[str, dict]], path: str, *,
                    keys: Sequence[str] = ("z_rule", "hotelling_fdr", "circular_fdr"), title: str = "") -> str:
    """Per layer (panel), per tested bin (group): fraction of units detected by each method.

    Args:
        table: ``{layer: trials.compare_detections(...)}``.
    """
    layers = list(table)
    fig, axes = plt.subplots(len(layers), 1, figsize=(9, 2.4 * len(layers)), sharex=True, squeeze=False)
    colors = {"z_rule": "tab:red", "hotelling_fdr": "tab:blue", "circular_fdr": "tab:cyan",
              "hotelling_p05": "tab:purple"}
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
    return save(fig, path)
