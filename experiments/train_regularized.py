"""Train a CIFAR ResNet with and without each SSVEP loss term; what changes, and at what cost (issue 12).

``ssvepjax.experiments.train_regularized``: plain training and every term of ``sj.TERMS`` (tag locking,
intermodulation, purity) at every weight, over several seeds, on mnist5k; each run judged on held-out images
(test accuracy, each term's own measure, the standard analysis at 6 and 7.5 Hz, accuracy with one half zeroed or
noised). Every run checkpoints (a killed run resumes from its last checkpoint) and is stored as it finishes (a
rerun reads it back).

    python experiments/train_regularized.py --quick --out runs/train_regularized_quick    # CI, about 2 min
    nice -n 10 python experiments/train_regularized.py --out runs/train_regularized        # full, ~1 h, 2 cores
    nice -n 10 python experiments/train_regularized.py --benchmark --out runs/train_regularized_bench
    python experiments/train_regularized.py --terms intermodulation --weights 1 5 --seeds 0 1 --tags 3 4

Writes ``train_regularized.json`` (settings, per-run results, table, differences from plain training paired by
seed), ``train_regularized_table.csv``, ``train_regularized_vs_plain.csv``, ``train_regularized.png``, the runs
(``steps/``) and their training metrics (``metrics/<run>.jsonl``). ``--benchmark`` times a plain and regularised
training steps (medians over ``--bench-repeats``) and writes ``benchmark.json`` instead.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("train_regularized")

if __name__ == "__main__":
    experiments.script("train_regularized")
