"""Experiment 8: do tag-selected filters make better class-activation maps? Measured on known object boxes.

One MNIST digit at a random position on a canvas among fragments of other digits (its box known, never used to
select filters), tagged as a 2x2 grid of quadrants at 7, 11, 13 and 16 Hz; a CifarResNet trained on it per seed.
Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM of the last conv layer with every filter and with the top-k filters of
each selector (tag score over calibration canvases or of the image itself, random, L1, mean activation), scored
against the box; each selector against random subsets of the same k, paired by seed, with the project's verdict
rule. The experiment: ``ssvepjax.experiments.explanations``.

    python experiments/explanations.py --quick --out runs/explanations_quick   # CI size, about 2 min
    nice -n 10 python experiments/explanations.py --out runs/explanations        # full size, 3 seeds, ~36 min

Writes ``explanations.json`` (settings, table, comparison with random selection and its verdicts, timings,
provenance), ``explanations_table.csv``, ``explanations_vs_random.csv``, ``explanations_metrics.png`` (metric
against k) and ``explanations_examples.png`` (canvases with their maps). Each seed is a step of the store
(``steps/``): a rerun with the same settings resumes after the last finished seed; trained models are cached.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("explanations")

if __name__ == "__main__":
    experiments.script("explanations")
