"""Ground truth for tag importance: the class evidence lies in one half of the image only.

Trains a ResNet-14 from scratch (3 seeds, 3 epochs) on double-width mnist5k images whose left half
holds the class digit and whose right half holds a digit of another class, tags the left half at
6 Hz and the right half at 7.5 Hz, and removes the same number of filters four ways: those that
follow the informative half's tag most (share of their tag response), those that follow the
uninformative half's tag, those that integrate both (intermodulation relative to harmonics), and
random ones; in every first conv, in every layer (coupled channels together), and in the last stage
only. Also draws the interpretability figure for seed 0.

    python experiments/pruning_ground_truth.py --quick --out runs/pruning_ground_truth_quick   # CI, ~2 min
    python experiments/pruning_ground_truth.py --out runs/pruning_ground_truth                 # 25 min (below)

Writes ``results.json``, ``results.csv``, ``ground_truth.png`` and ``interpretability.png``;
``records/`` and ``scores_s*.npz`` make a killed run resume. Measured: 1,477 s wall in two passes (the
last-stage setting was added in the second) on 2 CPU cores shared with other jobs (load average ~9).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ssvepjax.pruning import part_experiment as PE


def parse_args(argv=None) -> argparse.Namespace:
    """The options of the command line (nothing runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI size")
    p.add_argument("--out", default=None, help="output folder (default runs/pruning_ground_truth[_quick])")
    p.add_argument("--distractor", choices=("digit", "clutter"), default="digit")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = PE.GroundTruthConfig.quick() if args.quick else PE.GroundTruthConfig()
    if args.distractor != cfg.distractor:
        import dataclasses

        cfg = dataclasses.replace(cfg, distractor=args.distractor)
    out = Path(args.out or ("runs/pruning_ground_truth_quick" if args.quick else "runs/pruning_ground_truth"))
    t0 = time.time()
    summary = PE.run_ground_truth(cfg, out, progress=not args.no_progress)
    PE.plot_ground_truth(summary, out / "ground_truth.png")
    view = PE.interpretability(cfg, cfg.seeds[0], out)
    PE.plot_interpretability(view, summary, out / "interpretability.png")
    print(f"unpruned accuracy {summary['base_accuracy_mean']:.4f}; wrote {out} in {time.time() - t0:.0f} s")
    for r in summary["headline"]:
        print(f"  {r['condition']:8s} " + "  ".join(f"{g} {100 * r[f'{g}_mean']:.1f} +- {100 * r[f'{g}_std']:.1f}"
                                                    for g in PE.GROUPS))
    return summary


if __name__ == "__main__":
    main()
