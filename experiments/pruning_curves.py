"""Pruning curves: does tag importance tell which filters of a trained ResNet matter?
(``ssvepjax.experiments.pruning_curves``)

Prunes the default ResNet-32 (mnist5k, 3 epochs; seed 0 is the library's cached model, seeds 1 and 2 are trained the
same way with other seeds) at 10-90 % of its conv filters, with every score of ``ssvepjax.scores`` (3 tag-based, 6
baselines), coupled residual channels pruned together, the same share in every first conv and every residual-stream
family. Records one-shot accuracy, accuracy with batch-norm statistics re-estimated, and (at 30 % and 50 %) accuracy
after 40 fine-tuning steps of the physically smaller network. Every tag method is compared with every baseline,
paired over seeds, by ``stats.verdicts`` (``--alpha``, ``--margin``, ``--correction``: Holm within each condition).

    python experiments/pruning_curves.py --quick --out runs/pruning_curves_quick   # CI size, ~2 min
    python experiments/pruning_curves.py --out runs/pruning_curves                 # full, 68 min (see below)
    python experiments/pruning_curves.py --seeds 0 1 2 3 4 --fractions 0.3 0.5 --finetune-fractions 0.5

Writes ``pruning_curves.json`` (table, verdicts and their rule, published anchors, timings, provenance),
``results.csv``, ``verdicts.csv`` and ``pruning_curves.png``; ``steps/`` and ``scores_s*.npz`` make a killed run
resume. Measured: the full run took 4,074 s wall (training seeds 1 and 2: 525 s, scores: 138 s, 54 fine-tunings:
2,090 s) on 2 CPU cores shared with other jobs (load average 6-10), plus 100 s for the forward-time table.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("pruning_curves")

if __name__ == "__main__":
    experiments.script("pruning_curves")
