"""Experiment 11: tag attribution against occlusion, Shapley, IG and gradient x input on two tasks with a known
answer (the informative half of a two-part image, the quadrant of a boxed digit), and a pruning ground truth: the
two-part model pruned by the decision-spectrum filter score against Taylor, L1, random and the harmonic tag score.
Comparisons are paired over seeds with the project's verdict rule. The experiment:
``ssvepjax.experiments.attribution``.

    python experiments/attribution.py --quick                      # CI size, ~1-2 minutes
    python experiments/attribution.py --out runs/attribution       # 3 seeds, ~15-20 minutes on 2 CPU cores

Writes into one folder (``--out``, default ``runs/attribution``, ``runs/attribution_quick`` with ``--quick``):
``attribution.json`` (per task and method: means, spreads, paired differences and verdicts; the pruning accuracies;
provenance), ``attribution.png``, ``attribution_two_part.png`` and ``attribution_canvas.png``; each task and seed is
a step (``steps/``), so a rerun resumes after the last finished one.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("attribution")

if __name__ == "__main__":
    experiments.script("attribution")
