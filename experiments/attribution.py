"""Tag attribution against occlusion, Shapley, IG and gradient x input on two tasks with a known answer.

Also prunes the two-part model by the decision-spectrum filter score against Taylor, L1, random and the
harmonic tag score. Writes ``docs/results/attribution.json`` and ``docs/figures/attribution*.png``.

    python experiments/attribution.py            # 3 seeds, ~15-20 minutes on 2 CPU cores
    python experiments/attribution.py --quick    # CI size, ~1-2 minutes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import ssvepjax as sj
from ssvepjax.explain import PART_METHODS
from ssvepjax.explain import attribution_experiment as E
from ssvepjax.report import plots


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI size")
    ap.add_argument("--out", default="docs", help="output folder: results/ and figures/ go there (default docs)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = E.AttributionConfig.quick() if args.quick else E.AttributionConfig()
    root = Path(args.out)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "figures").mkdir(parents=True, exist_ok=True)
    runs = root / "results" / ("attribution_runs_quick" if args.quick else "attribution_runs")
    records = E.run_attribution(config, runs, progress=not args.quick)
    summary = E.summarize_attribution(config, records, root / "results" / "attribution.json")
    plots.plot_attribution_summary(summary, str(root / "figures" / "attribution.png"))
    for task in E.TASKS:
        rec = next(r for r in records if r["task"] == task)
        ex = rec["example"]
        h, w = np.shape(ex["image"])
        masks = sj.halves(h, w) if task == "two_part" else sj.quadrants(h, w)
        shown = {m: ex[m] for m in (*PART_METHODS, "tag_full_contrast") if m in ex}
        plots.plot_part_attribution(ex["image"], masks, shown,
                                    str(root / "figures" / f"attribution_{task}.png"), informative=ex["informative"],
                                    title=f"{task.replace('_', ' ')}: label {ex['label']}, attribution of its logit "
                                          f"(seed {rec['seed']})")
    return summary


if __name__ == "__main__":
    main()
