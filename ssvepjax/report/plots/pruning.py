"""Figures of pruning: accuracy against what is removed, the ground-truth task's groups, which filters follow which
half of the image."""

from __future__ import annotations

import numpy as np

from ssvepjax.report.plots.common import plt, save_figure

__all__ = ["plot_ground_truth", "plot_interpretability", "plot_pruning_curves"]

# How a pruned network is evaluated, in the order the curves' rows are drawn.
_CONDITION_NAMES = {"oneshot": "one-shot (no weight change)", "recal": "one-shot + BN statistics re-estimated",
                    "finetuned": "after fine-tuning"}


def plot_pruning_curves(summary: dict, path: str, *, title: str | None = None) -> str:
    """Accuracy against filters removed and against FLOPs removed, one row per condition, mean +- std.

    Args:
        summary: the pruning-curves result (``experiments.pruning_curves``): its ``table`` (one row per method,
            fraction and condition) and ``base_accuracy_mean``.
        path: PNG path.
        title: figure title.
    """
    table = summary["table"]
    methods = list(dict.fromkeys(r["method"] for r in table))
    tag_colors = iter(["#b2182b", "#ef8a62", "#fdae61", "#d6604d", "#f4a582"])
    base_colors = iter(["#636363", "#2166ac", "#1b7837", "#762a83", "#4393c3", "#5aae61", "#9970ab"])
    style = {m: (next(tag_colors), "-", "o") if m.startswith("tag") else (next(base_colors), "--", "s")
             for m in methods}
    conds = [c for c in _CONDITION_NAMES if any(r["condition"] == c for r in table)]
    fig, axes = plt.subplots(len(conds), 2, figsize=(11, 3.4 * len(conds)), squeeze=False, sharex="col")
    # Methods share x positions (the same budget removes the same filters): spread them a little.
    offset = {m: 0.35 * (i - (len(methods) - 1) / 2) for i, m in enumerate(methods)}
    for i, c in enumerate(conds):
        for j, (x_key, x_label) in enumerate((("filters_removed", "conv filters removed (%)"),
                                              ("flops_removed", "FLOPs (MACs) removed (%)"))):
            ax = axes[i, j]
            for m in methods:
                rows = sorted((r for r in table if r["method"] == m and r["condition"] == c), key=lambda r: r[x_key])
                if not rows:
                    continue
                color, ls, mk = style[m]
                x = 100 * np.array([r[x_key] for r in rows]) + offset[m]
                y = 100 * np.array([r["accuracy_mean"] for r in rows])
                e = 100 * np.array([r["accuracy_std"] for r in rows])
                ax.errorbar(x, y, yerr=e, color=color, ls=ls, marker=mk, ms=4, lw=1.3, capsize=2, label=m)
            if summary.get("base_accuracy_mean") is not None:
                ax.axhline(100 * summary["base_accuracy_mean"], color="k", ls=":", lw=1, label="unpruned")
            if i == len(conds) - 1:
                ax.set_xlabel(x_label)
            ax.tick_params(labelbottom=True)
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(_CONDITION_NAMES[c] + (" (y axis zoomed)" if c == "finetuned" else ""), fontsize=10)
            if c == "finetuned":  # all methods recover to a narrow band: zoom so their differences show
                lo = min(100 * (r["accuracy_mean"] - r["accuracy_std"]) for r in table if r["condition"] == c)
                ax.set_ylim(max(0.0, np.floor(lo) - 2), 100)
            else:
                ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return save_figure(fig, str(path))


# Colours and legend labels of the ground-truth task's filter groups, in the order they are drawn.
_COLORS = {"informative": "#b2182b", "uninformative": "#2166ac", "integrating": "#762a83", "random": "#636363"}
_LABELS = {"informative": "followers of the informative half (f1)", "uninformative": "followers of the "
           "uninformative half (f2)", "integrating": "integrating (top intermodulation / harmonics)",
           "random": "random (same number per layer)"}
_GROUPS = tuple(_COLORS)
_SETTING_NAMES = {"internal": "every first conv", "grouped": "every layer (coupled channels together)",
                  "last_stage": "last stage only (first convs + its residual channels)"}


def plot_ground_truth(summary: dict, path: str) -> str:
    """Accuracy against filters removed per group for the headline settings, and the headline bars.

    Args:
        summary: the ground-truth result (``experiments.pruning_ground_truth``): ``config``, ``table``,
            ``headline`` (rows with ``<group>_mean``, ``<group>_std``, ``<group>_per_seed``) and
            ``base_accuracy_mean``.
        path: PNG path.
    """
    cfg = summary["config"]
    settings = list(dict.fromkeys(r["policy"] for r in summary["headline"]))
    fig, axes = plt.subplots(1, len(settings) + 1, figsize=(5 * (len(settings) + 1), 4.3))
    for ax, setting in zip(axes, settings):
        for cond, ls, alpha in (("recal", "-", 1.0), ("oneshot", ":", 0.6)):
            rows = sorted((r for r in summary["table"] if r["policy"] == setting and r["condition"] == cond),
                          key=lambda r: r["fraction"])
            x = [100 * r["fraction"] for r in rows]
            for g in _GROUPS:
                ax.errorbar(x, [100 * r[f"{g}_mean"] for r in rows], yerr=[100 * r[f"{g}_std"] for r in rows],
                            color=_COLORS[g], marker="o", ms=4, capsize=2, ls=ls, alpha=alpha,
                            label=f"{_LABELS[g]}" if cond == "recal" else None)
        if summary.get("base_accuracy_mean"):
            ax.axhline(100 * summary["base_accuracy_mean"], color="k", ls="--", lw=0.8, label="unpruned")
        ax.set_xlabel("filters removed in each budget set (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{_SETTING_NAMES[setting]}\nsolid: BN re-estimated, dotted: one-shot", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    ax = axes[-1]
    head = {r["policy"]: r for r in summary["headline"] if r["condition"] == "recal"}
    width = 0.2
    for i, setting in enumerate(settings):
        r = head[setting]
        for j, g in enumerate(_GROUPS):
            xpos = i + (j - 1.5) * width
            ax.bar(xpos, 100 * r[f"{g}_mean"], width, yerr=100 * r[f"{g}_std"], color=_COLORS[g], capsize=2,
                   label=g if i == 0 else None)
            seeds = [float(v) for v in r[f"{g}_per_seed"].split()]
            ax.plot([xpos] * len(seeds), [100 * v for v in seeds], "k.", ms=4)
    ax.set_xticks(range(len(settings)), [_SETTING_NAMES[st].split(" (")[0] for st in settings], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{100 * cfg['fraction']:.0f}% removed per budget set, BN re-estimated:\nmean, std (bars) "
                 "and seeds (dots)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Ground truth: class digit left (f1 = 6 Hz), {cfg['distractor']} distractor right (f2 = 7.5 Hz); "
                 f"ResNet-{cfg['model']['depth']}, {len(cfg['seeds'])} seeds", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, str(path))


def plot_interpretability(view: dict, summary: dict, path: str) -> str:
    """Which filters follow which half, which integrate, where in the image, and what removing each costs.

    Args:
        view: ``experiments.pruning_ground_truth.interpretability``'s per-filter shares and ratios and response maps.
        summary: the ground-truth result (its ``headline``, ``base_accuracy_mean`` and ``config``).
        path: PNG path.
    """
    layers = view["layers"]
    k = len(view["images"])
    maps_layers = list(view["maps"])
    fig = plt.figure(figsize=(14, 4.2 + 1.9 * k))
    gs = fig.add_gridspec(1 + k, 2 + 3 * len(maps_layers), height_ratios=[2.2] + [1] * k)
    ax = fig.add_subplot(gs[0, : 1 + 3 * len(maps_layers) // 2 + 1])
    ratios = np.concatenate([view["im_ratio"][n] for n in layers])
    vmax = max(float(np.quantile(ratios, 0.99)), 1e-6)
    rng = np.random.default_rng(0)
    for i, n in enumerate(layers):
        s = view["share_informative"][n]
        sc = ax.scatter(i + rng.uniform(-0.25, 0.25, len(s)), s, c=np.clip(view["im_ratio"][n], 0, vmax), s=9,
                        cmap="viridis", vmin=0, vmax=vmax)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_xticks(range(len(layers)), [n.replace("stage", "s").replace("_block", "b").replace("/conv", "c")
                                       for n in layers], rotation=60, fontsize=7)
    ax.set_ylabel("share of tag response\nfollowing the informative half")
    ax.set_ylim(0, 1)
    ax.set_title("every filter: 1 = follows the class digit (left, f1), 0 = the distractor (right, f2)", fontsize=9)
    cb = fig.colorbar(sc, ax=ax, pad=0.01)
    cb.set_label("intermodulation / harmonics", fontsize=8)
    ax2 = fig.add_subplot(gs[0, 1 + 3 * len(maps_layers) // 2 + 1:])
    heads = [r for r in summary["headline"] if r["condition"] == "recal"]
    if heads:
        base = summary["base_accuracy_mean"]
        h = 0.8 / len(heads)
        for i, r in enumerate(heads):
            ypos = np.arange(len(_GROUPS)) + (i - (len(heads) - 1) / 2) * h
            ax2.barh(ypos, [100 * (r[f"{g}_mean"] - base) for g in _GROUPS], h * 0.9,
                     xerr=[100 * r[f"{g}_std"] for g in _GROUPS], color=[_COLORS[g] for g in _GROUPS], capsize=2,
                     alpha=1.0 if i == 0 else 0.55, hatch=None if i == 0 else "//")
            ax2.bar(0, 0, color="w", edgecolor="k", hatch=None if i == 0 else "//",
                    label=_SETTING_NAMES[r["policy"]].split(" (")[0])  # legend proxy for the setting
        ax2.set_yticks(range(len(_GROUPS)), list(_GROUPS), fontsize=8)
        ax2.set_xlabel("accuracy change (points)")
        ax2.set_title(f"removing {100 * summary['config']['fraction']:.0f}% of the filters by group\n"
                      "(BN re-estimated, mean +- std over seeds)", fontsize=9)
        ax2.axvline(0, color="k", lw=0.8)
        ax2.grid(alpha=0.3, axis="x")
        ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    kinds = (("tag1", "left tag f1 + harmonics"), ("tag2", "right tag f2 + harmonics"),
             ("intermodulation", "IM"))
    for r in range(k):
        img = view["images"][r]
        ax = fig.add_subplot(gs[1 + r, 0:2])
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.axvline(img.shape[1] / 2 - 0.5, color="r", lw=0.8)
        ax.set_title(f"label {int(view['labels'][r])} (left digit)", fontsize=8)
        ax.axis("off")
        for li, n in enumerate(maps_layers):
            top = max(float(view["maps"][n][kk][r].max()) for kk, _ in kinds[:2]) or 1.0
            for ki, (kk, name) in enumerate(kinds):
                m = view["maps"][n][kk][r]
                ax = fig.add_subplot(gs[1 + r, 2 + 3 * li + ki])
                hi = top if kk != "intermodulation" else max(float(m.max()), 1e-12)
                ax.imshow(m, cmap="magma", vmin=0, vmax=hi)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{n.replace('/conv2', '')}\n{name}" + (" (own scale)" if kk == "intermodulation"
                                                                        else ""), fontsize=7)
    fig.suptitle("Which filters follow which half, which integrate both, and where in the image (summed "
                 "baseline-corrected amplitude per position)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, str(path))
