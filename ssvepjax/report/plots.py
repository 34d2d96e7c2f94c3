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


def save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` as PNG through a temporary file, then close it."""
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


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


def short_layer_name(name: str) -> str:
    """``"stage2_block3/conv1/post"`` -> ``"s2.b3.c1"``; ``"stem/post"`` -> ``"stem"`` (tick labels)."""
    out = []
    for p in name.removesuffix("/post").removesuffix("/pre").split("/"):
        if p.startswith("stage") and "_block" in p:
            st, bl = p.removeprefix("stage").split("_block")
            out.append(f"s{st}.b{bl}")
        elif p.startswith("conv"):
            out.append("c" + p.removeprefix("conv"))
        else:
            out.append(p)
    return ".".join(out)


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


def plot_part_attribution(image: np.ndarray, masks: np.ndarray, values: dict[str, np.ndarray], path: str, *,
                          title: str = "", informative: int | None = None) -> str:
    """The image with each part coloured by its attribution, one panel per method.

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` in [0, 1] (shown in grey).
        masks: ``[P, H, W]`` boolean parts.
        values: ``{method: [P]}`` attributions (output units); each panel has its own symmetric colour scale
            (red: the part raises the output, blue: lowers it), and prints the values.
        path: PNG path.
        title: figure title.
        informative: index of the part known to hold the evidence (outlined in green), if any.
    """
    img = np.asarray(image, np.float64)
    img = img.mean(-1) if img.ndim == 3 else img
    m = np.asarray(masks, bool)
    fig, axes = plt.subplots(1, len(values), figsize=(2.4 * len(values), 2.7), squeeze=False)
    for ax, (name, v) in zip(axes[0], values.items()):
        v = np.asarray(v, np.float64)
        top = float(np.max(np.abs(v))) or 1.0
        colour = np.einsum("p,phw->hw", v / top, m.astype(np.float64))
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.imshow(np.ma.masked_where(~m.any(0), colour), cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.55)
        for p in range(len(m)):
            ys, xs = np.nonzero(m[p])
            ax.text(xs.mean(), ys.mean(), f"{v[p]:.2g}", ha="center", va="center", fontsize=8,
                    color="k", bbox={"facecolor": "w", "alpha": 0.7, "pad": 1, "lw": 0})
            if informative == p:
                ax.contour(m[p].astype(float), levels=[0.5], colors="lime", linewidths=1.2)
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def plot_attribution_summary(summary: dict, path: str) -> str:
    """Top-part accuracy (mean, std and seeds) against forward passes per image, per task and method."""
    tasks = sorted(summary["tasks"], key=lambda t: (t != "two_part", t))
    fig, axes = plt.subplots(1, len(tasks) + (1 if summary.get("pruning") else 0), figsize=(4.6 * (len(tasks) + 1),
                                                                                             3.6), squeeze=False)
    marks = {"tag": "o", "tag_full_contrast": "P", "occlusion": "s", "shapley": "D", "integrated_gradients": "^",
             "gradient_x_input": "v"}
    for ax, task in zip(axes[0], tasks):
        t = summary["tasks"][task]
        for m, row in t["methods"].items():
            acc, cost = row["top_part_accuracy"], row["forward_passes"]["mean"] + row["backward_passes"]["mean"]
            ax.errorbar(cost, 100 * acc["mean"], yerr=100 * acc["std"], marker=marks.get(m, "o"), capsize=2,
                        label=m.replace("_", " "), ls="none")
            ax.plot([cost] * len(acc["per_seed"]), [100 * a for a in acc["per_seed"]], "k.", ms=3)
        ax.axhline(100 / t["n_parts"], color="k", ls=":", lw=0.8, label="chance")
        ax.set_xscale("log")
        ticks = [1, 2, 4, 8, 16, 32, 64, 128]
        ax.set_xticks(ticks, [str(k) for k in ticks])
        ax.minorticks_off()
        ax.set_xlim(0.7, 180)
        ax.set_xlabel("network passes per image (forward + backward)")
        ax.set_ylabel("top part is the informative one (%)")
        ax.set_ylim(0, 105)
        ax.set_title(f"{task.replace('_', ' ')}: {t['n_parts']} parts, {t['n_seeds']} seeds", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    if summary.get("pruning"):
        ax = axes[0][-1]
        acc = summary["pruning"]["accuracy"]
        methods = list(acc)
        fractions = list(acc[methods[0]])
        width = 0.8 / len(methods)
        for j, m in enumerate(methods):
            xs = np.arange(len(fractions)) + (j - (len(methods) - 1) / 2) * width
            ax.bar(xs, [100 * acc[m][f]["mean"] for f in fractions], width,
                   yerr=[100 * acc[m][f]["std"] for f in fractions], capsize=2, label=m)
        ax.set_xticks(range(len(fractions)), [f"{100 * float(f):.0f}%" for f in fractions])
        ax.set_xlabel("filters removed per layer (lowest first), BN re-estimated", fontsize=8)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("two-part task: pruning by filter score", fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_selection_metrics(table: list[dict], path: str, *, metrics: Sequence[str] = ("energy_in_box", "concentration"),
                           title: str = "") -> str:
    """Each CAM method's metric against the number of filters kept, one line per selector (mean +- s.e.).

    Args:
        table: rows ``{method, selector, k, <metric>, <metric>_se}`` (``explain.box_evaluation.summarize``); the
            ``all`` map is drawn as a dashed line, ``random`` dotted.
        path: PNG to write.
        metrics: one row of panels per metric.
        title: figure title.
    """
    methods = list(dict.fromkeys(r["method"] for r in table))
    metrics = [m for m in metrics if any(m in r for r in table)]
    if not methods or not metrics:
        raise ValueError("table holds no rows with the requested metrics")
    selectors = [s for s in dict.fromkeys(r["selector"] for r in table) if s != "all"]
    palette = [c for i, c in enumerate(plt.cm.tab20.colors) if i not in (14, 15)]  # tab20's greys: random's
    colors = dict(zip([s for s in selectors if s != "random"], palette * 2), random="0.35")
    fig, axes = plt.subplots(len(metrics), len(methods), figsize=(3.4 * len(methods), 2.8 * len(metrics)),
                             squeeze=False, sharex=True)
    for j, method in enumerate(methods):
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            for r in table:
                if r["method"] == method and r["selector"] == "all" and m in r:
                    ax.axhline(r[m], color="k", ls="--", lw=1, label=f"all {r['k']} filters")
            for sel in selectors:
                rs = sorted((r for r in table if r["method"] == method and r["selector"] == sel and m in r),
                            key=lambda r: r["k"])
                if rs:
                    k = [r["k"] for r in rs]
                    ax.errorbar(k, [r[m] for r in rs], yerr=np.nan_to_num([r[f"{m}_se"] for r in rs]), capsize=2,
                                marker="o", ms=3, lw=1.2, ls=":" if sel == "random" else "-", color=colors[sel],
                                label=sel)
            ax.set_xscale("log", base=2)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(method)
            if j == 0:
                ax.set_ylabel(m.replace("_", " "))
            if i == len(metrics) - 1:
                ax.set_xlabel("filters kept (k)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    return save_figure(fig, path)
