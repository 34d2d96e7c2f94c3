"""Is a pruned model faster? Forward time of the physically smaller model against the masked one, on this CPU.

For a CIFAR ResNet-56, a ResNet-50 and a ViT (random weights: speed does not depend on them), removes
half of the groups inside layers (first convs, bottleneck inner convs, attention heads and MLP units;
``policy="internal"``) with random scores, and times the masked model (same shapes, zeroed groups) and
the smaller one (``pruning.prune``: a rebuilt ``CifarResNet``, or the traced program re-run with the
smaller arrays) in turns (``pruning.compare_forward_times``). Prints multiply-accumulates and times,
and the ratio masked / pruned (> 1: the pruned model is faster).

    python experiments/pruning_speed.py --quick   # small inputs and batches, ~1-2 min on 2 shared cores
    python experiments/pruning_speed.py           # ResNet-50 and ViT-S/16 at 224 x 224, batch 8
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import ssvepjax as sj
from ssvepjax import pruning as P
from ssvepjax.models import random_variables, resnet50, vit_small, vit_tiny


def parse_args(argv=None) -> argparse.Namespace:
    """The options of the command line (nothing runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small inputs and batches")
    p.add_argument("--fraction", type=float, default=0.5, help="share of the groups in each layer to remove")
    p.add_argument("--repeats", type=int, default=5)
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    big = 64 if args.quick else 224
    cases = [("CIFAR ResNet-56", sj.CifarResNet(depth=56), (32, 32, 3), 32 if args.quick else 128),
             ("ResNet-50", resnet50(), (big, big, 3), 4 if args.quick else 8),
             ("ViT-Ti/16" if args.quick else "ViT-S/16", vit_tiny() if args.quick else vit_small(), (big, big, 3),
              4 if args.quick else 8)]
    rows = []
    for name, model, shape, batch in cases:
        v = random_variables(model, jax.ShapeDtypeStruct((1, *shape), jnp.float32))
        graph = P.topology(model, v)
        rng = np.random.default_rng(0)
        scores = {layer: rng.uniform(size=w) for layer, w in zip(graph.layers, graph.widths)}
        keep = P.keep_masks(scores, model, args.fraction, policy="internal")
        masked = P.apply_masks(v, keep, model)
        small, sv = P.prune(model, v, keep)
        t_masked, t_pruned = P.compare_forward_times([(model, masked), (small, sv)], shape, batch_size=batch,
                                                     repeats=args.repeats)
        row = {"model": name, "input": shape, "batch": batch, "macs_masked": P.flops(model, shape),
               "macs_pruned": P.flops((small, sv), shape), "masked_s": t_masked, "pruned_s": t_pruned,
               "speedup": t_masked / t_pruned}
        rows.append(row)
        print(f"{name:16s} {shape[0]}x{shape[1]} batch {batch}: MACs {row['macs_masked'] / 1e9:.3f} G -> "
              f"{row['macs_pruned'] / 1e9:.3f} G ({row['macs_masked'] / row['macs_pruned']:.2f}x fewer); forward "
              f"{t_masked * 1e3:.1f} ms masked, {t_pruned * 1e3:.1f} ms pruned: {row['speedup']:.2f}x", flush=True)
    return rows


if __name__ == "__main__":
    main()
