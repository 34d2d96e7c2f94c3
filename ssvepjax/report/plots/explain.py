"""Figures of explanations: part attributions on the image, attribution summaries, selection metrics, CAM examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssvepjax.report.plots.common import plt, save_figure


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


#: Axis labels of the box metrics (``explain.box_evaluation``).
METRIC_LABELS = {"energy_in_box": "energy inside the box", "concentration": "energy concentration (top 20 %)",
                 "localisation": "localisation accuracy (IoU >= 0.5)", "iou": "IoU of the largest region",
                 "deletion": "deletion AUC (lower is better)", "insertion": "insertion AUC (higher is better)"}


def plot_selection_metrics(table: list[dict], path: str, *, metrics: Sequence[str] = ("energy_in_box", "concentration"),
                           selectors: Sequence[str] | None = None, spread: str = "se", title: str = "") -> str:
    """Each CAM method's metric against the number of filters kept, one line per selector (mean +- spread).

    Args:
        table: rows ``{method, selector, k, <metric>, <metric>_<spread>}`` (``explain.box_evaluation.summarize``,
            or means over seeds); the ``all`` map is drawn as a dashed line, ``random`` dotted in a grey band.
        path: PNG to write.
        metrics: one row of panels per metric (those in the table).
        selectors: the selectors drawn, in this order (None: every one in the table).
        spread: the suffix of the error bars' column: ``"se"`` (standard error over images) or ``"sd"`` (standard
            deviation over seeds).
        title: figure title.
    """
    methods = list(dict.fromkeys(r["method"] for r in table))
    metrics = [m for m in metrics if any(m in r for r in table)]
    if not methods or not metrics:
        raise ValueError("table holds no rows with the requested metrics")
    present = [s for s in dict.fromkeys(r["selector"] for r in table) if s != "all"]
    selectors = present if selectors is None else [s for s in selectors if s in present]
    palette = [c for i, c in enumerate(plt.cm.tab20.colors) if i not in (14, 15)]  # tab20's greys: random's
    colors = dict(zip([s for s in selectors if s != "random"], palette * 2), random="0.35")
    ks = sorted({r["k"] for r in table if r["selector"] in selectors})
    fig, axes = plt.subplots(len(metrics), len(methods), figsize=(3.5 * len(methods), 2.8 * len(metrics)),
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
                if not rs:
                    continue
                k = np.array([r["k"] for r in rs])
                v = np.array([r[m] for r in rs])
                err = np.nan_to_num(np.array([r.get(f"{m}_{spread}", np.nan) for r in rs], np.float64))
                style = dict(marker="o", ms=3, lw=1.2, color=colors[sel], label=sel)
                if sel == "random":
                    ax.fill_between(k, v - err, v + err, color=colors[sel], alpha=0.2, lw=0)
                    ax.plot(k, v, ls=":", **style)
                else:
                    ax.errorbar(k, v, yerr=err, capsize=2, **style)
            ax.set_xscale("log", base=2)
            if ks:
                ax.set_xticks(ks, [str(k) for k in ks])
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(method)
            if j == 0:
                ax.set_ylabel(METRIC_LABELS.get(m, m.replace("_", " ")), fontsize=8)
            if i == len(metrics) - 1:
                ax.set_xlabel("filters kept (k)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    return save_figure(fig, path)


def plot_cam_examples(examples: dict[str, np.ndarray], path: str, columns: Sequence[str], *, k: int,
                      title: str = "") -> str:
    """Images with their object box, alone and under the map of each selector (one row per image).

    Args:
        examples: ``{"images": [N, H, W, C], "boxes": [N, 4] (y0, x0, y1, x1), "labels": [N], <selector>: [N, H, W]
            maps in [0, 1]}``.
        path: PNG to write.
        columns: the selectors shown after the image, in order (``"all"``: every filter).
        k: filters kept by the selectors (in the column titles).
        title: figure title.
    """
    n = len(examples["images"])
    fig, axes = plt.subplots(n, len(columns) + 1, figsize=(1.9 * (len(columns) + 1), 2.0 * n + 0.4), squeeze=False)
    for i in range(n):
        y0, x0, y1, x1 = examples["boxes"][i]
        for j in range(len(columns) + 1):
            ax = axes[i, j]
            ax.imshow(np.asarray(examples["images"][i]).mean(-1), cmap="gray", vmin=0, vmax=1)
            if j:
                ax.imshow(examples[columns[j - 1]][i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=1.2))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                sel = columns[j - 1] if j else None
                ax.set_title("canvas, box" if sel is None else sel if sel == "all" else f"{sel}\nk={k}", fontsize=8)
        axes[i, 0].set_ylabel(f"label {int(examples['labels'][i])}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
