"""Figures of training with frequency-tagging loss terms: what each term changes, and at what cost."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssvepjax.report.plots.common import plt, save_figure
from ssvepjax.training.losses import TERMS


def plot_regularized(table: list[dict], layer: str, path: str, *, terms: Sequence[str], weights: Sequence[float],
                     noise_sd: float, title: str = "") -> str:
    """Six panels against the term weight (0: plain training), one line per term, mean +- sd over seeds.

    Panels: test accuracy; the term's own measure (``share_<term>``, mean unit share on held-out images); the
    intermodulation share of AC power and the fraction of units responding at any intermodulation (the standard
    analysis); accuracy with one half set to 0, and with one half noised (means of left and right).

    Args:
        table: rows ``{condition, layer, <metric>, <metric>_sd}`` (``experiments.train_regularized.aggregate``),
            conditions ``"plain"`` and ``"<term>@<weight:g>"``.
        layer: the layer whose rows are drawn.
        path: PNG to write.
        terms, weights: the trained terms and their non-zero weights.
        noise_sd: the noise of the corruption panel (its label).
        title: figure title.
    """
    rows = [r for r in table if r["layer"] == layer]
    plain = next(r for r in rows if r["condition"] == "plain")
    x = np.arange(len(weights) + 1)
    panels = [("test_accuracy", "test accuracy"), ("own", "the term's own measure\n(mean unit share, held out)"),
              ("im_power_share", "IM share of AC power\n(standard analysis, 6/7.5 Hz)"),
              ("any_intermodulation", "fraction of units responding\nat any IM (standard analysis)"),
              ("acc_half_zeroed", "accuracy, one half set to 0\n(mean of left and right)"),
              ("acc_half_noised", f"accuracy, noise sd {noise_sd:g} on one half\n(mean of left and right)")]
    colors = dict(zip(TERMS, plt.cm.tab10.colors))  # a term keeps its colour whichever subset a run trains
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    for ax, (key, label) in zip(axes.flat, panels):
        for k, term in enumerate(terms):
            series = [plain] + [next(r for r in rows if r["condition"] == f"{term}@{w:g}") for w in weights]
            if key == "own":
                m = f"share_{term}"
                v = [r[m] for r in series]
                sd = [r[m + "_sd"] for r in series]
            elif key.startswith("acc_half"):
                kind = key.split("_")[-1]
                v = [(r[f"acc_left_{kind}"] + r[f"acc_right_{kind}"]) / 2 for r in series]
                sd = [np.hypot(r[f"acc_left_{kind}_sd"], r[f"acc_right_{kind}_sd"]) / 2 for r in series]
            else:
                v = [r[key] for r in series]
                sd = [r[key + "_sd"] for r in series]
            ax.errorbar(x + (k - 1) * 0.06, v, yerr=np.nan_to_num(sd), marker="o", ms=4, capsize=3,
                        color=colors[term], label=term.replace("_", " "))
        ax.set_xticks(x, ["0 (plain)", *[f"{w:g}" for w in weights]])
        ax.set_xlabel("term weight")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(title="loss term", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return save_figure(fig, path)
