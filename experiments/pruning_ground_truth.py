"""Ground truth for tag importance: the class evidence lies in one half of the image only.
(``ssvepjax.experiments.pruning_ground_truth``)

Trains a ResNet-14 from scratch (3 seeds, 3 epochs) on double-width mnist5k images whose left half holds the class
digit and whose right half holds a digit of another class, tags the left half at 6 Hz and the right half at 7.5 Hz,
and removes the same number of filters four ways: those that follow the informative half's tag most (share of their
tag response), those that follow the uninformative half's tag, those that integrate both (intermodulation relative
to harmonics), and random ones; in every first conv, in every layer (coupled channels together), and in the last
stage only. Every group is compared with random filters (and the two halves' followers with each other), paired over
seeds, by ``stats.verdicts``. Also draws the interpretability figure for the first seed.

    python experiments/pruning_ground_truth.py --quick --out runs/pruning_ground_truth_quick   # CI, ~2 min
    python experiments/pruning_ground_truth.py --out runs/pruning_ground_truth                 # 25 min (below)
    python experiments/pruning_ground_truth.py --distractor clutter --out runs/pruning_ground_truth_clutter

Writes ``pruning_ground_truth.json`` (table, headline, verdicts and their rule, provenance), ``results.csv``,
``verdicts.csv``, ``ground_truth.png`` and ``interpretability.png``; ``steps/`` and ``scores_s*.npz`` make a killed
run resume. Measured: 1,477 s wall in two passes (the last-stage setting was added in the second) on 2 CPU cores
shared with other jobs (load average ~9).
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("pruning_ground_truth")

if __name__ == "__main__":
    experiments.script("pruning_ground_truth")
