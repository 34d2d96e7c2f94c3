"""Pruning curves: does tag importance tell which filters of a trained ResNet matter?

Prunes the default ResNet-32 (mnist5k, 3 epochs; seed 0 is the library's cached model, seeds 1 and 2
are trained the same way with other seeds) at 10-90 % of its conv filters, with every score of
``ssvepjax.pruning`` (3 tag-based, 6 baselines), coupled residual channels pruned together, the same
share in every first conv and every residual-stream family. Records one-shot accuracy, accuracy with
batch-norm statistics re-estimated, and (at 30 % and 50 %) accuracy after 40 fine-tuning steps of the
physically smaller network.

    python experiments/pruning_curves.py --quick --out runs/pruning_curves_quick   # CI size, ~2 min
    python experiments/pruning_curves.py --out runs/pruning_curves                 # full, 68 min (see below)

Writes ``results.json`` (table, paired verdicts, published anchors, timings), ``results.csv``,
``verdicts.csv`` and ``pruning_curves.png``; ``records/`` and ``scores_s*.npz`` make a killed run resume.
Measured: the full run took 4,074 s wall (training seeds 1 and 2: 525 s, scores: 138 s, 54 fine-tunings:
2,090 s) on 2 CPU cores shared with other jobs (load average 6-10), plus 100 s for the forward-time table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ssvepjax.pruning import curves


def parse_args(argv=None) -> argparse.Namespace:
    """The options of the command line (nothing runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI size")
    p.add_argument("--out", default=None, help="output folder (default runs/pruning_curves[_quick])")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = curves.CurvesConfig.quick() if args.quick else curves.CurvesConfig()
    out = Path(args.out or ("runs/pruning_curves_quick" if args.quick else "runs/pruning_curves"))
    t0 = time.time()
    summary = curves.run_curves(cfg, out, progress=not args.no_progress)
    title = (f"ResNet-{cfg.model.depth} on {cfg.dataset}: accuracy against pruning "
             f"(mean +- std over {len(cfg.seeds)} seeds)")
    curves.plot_curves(summary, out / "pruning_curves.png", title=title)
    print(f"unpruned accuracy {summary['base_accuracy_mean']:.4f}; wrote {out}/results.json, results.csv, "
          f"verdicts.csv, pruning_curves.png in {time.time() - t0:.0f} s")
    for k, v in summary["verdict_tally"].items():
        print(f"  {k}: {v}")
    return summary


if __name__ == "__main__":
    main()
