"""Benchmark probing ImageNet-size models: ResNet-50 and a ViT, one image, against their forward pass (issue 13).

``ssvepjax.experiments.benchmark_large`` (its docstring names every contender): random weights, one random image,
the paper's design (80 frames of one stimulus period); per case (model, image side) the forward passes of the same
frames, and the probe per neuron, in frame blocks, at the components only, per filter, for 8 images and under a
memory budget. Each contender's peak memory is measured in a fresh process under a memory guard (a child past
``--memory-limit-gb`` is killed and reported, the run goes on), then their times in interleaved rounds.

    python experiments/benchmark_large.py --json runs/benchmark_large.json          # ~60 min on 2 busy CPU cores
    python experiments/benchmark_large.py --quick --json /tmp/benchmark_large.json  # tiny models, ~5 min
    python experiments/benchmark_large.py --cases resnet50:224 --kinds forward_period probe_filter probe_budget

Writes the JSON (``--json``, else ``<out>/benchmark_large.json``: every contender's row and the ratios of each
probe to the forward pass of its frames, in time and peak memory), its rows as a CSV table beside it and
``benchmark_large.png`` (time and peak memory against image side). Prints the ratios.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("benchmark_large")

if __name__ == "__main__":
    experiments.script("benchmark_large")
