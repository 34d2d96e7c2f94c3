"""Experiment 12: the follow-up paper's pipeline (Böge et al., xAI 2025) on a converted torchvision model and images
with object boxes: filters of the CAM layer selected by their tag response (per image, and over calibration images)
against L1, mean activation and random subsets, for Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM; every image's energy
in the box, energy concentration, localisation and deletion / insertion AUC, each selector against random paired by
image with the project's verdict rule. The experiment: ``ssvepjax.experiments.follow_up``.

With real weights and images (e.g. ImageNet's validation set and torchvision's ResNet-50 weights)::

    python experiments/follow_up.py --arch resnet50 --weights resnet50-0676ba61.pth \\
        --images ILSVRC2012_img_val --annotations val_xml --synsets LOC_synset_mapping.txt --limit 1000

``--quick`` runs a ResNet-18 with random weights on generated images with boxes (CI size, about 20 s);
``--layers`` takes layer names separated by spaces or commas (default: the last conv output).

Writes ``follow_up.json`` (provenance, sources, table, versus random with verdicts), ``follow_up_table.csv``,
``follow_up_vs_random.csv`` and ``follow_up_metrics.png`` into ``--out`` (default ``runs/follow_up``,
``runs/follow_up_quick`` with ``--quick``); the calibration scores and each chunk of images are stored as they
finish (``steps/``) and a rerun with the same settings resumes after the last one.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("follow_up")

if __name__ == "__main__":
    experiments.script("follow_up")
