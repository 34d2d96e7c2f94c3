"""One process of a multi-process ``probe_dataset`` run (started by ``tests/multihost.launch``).

Every process builds the same model and dataset, takes its own share of the images and calls
``sj.probe_dataset`` with a mesh over the devices of all processes; every process then holds the
global mean spectra and writes them to ``OUT/<split><process_id>.npz``. ``--splits`` chooses how the
images are shared out (one probe per split, in one distributed session):

- ``strided``: ``images[i::n]``, the documentation's example (``docs/guide/scale.md``);
- ``uneven``: process 0 five images, process 1 three (process 1 runs out of chunks first);
- ``short``: process 0 six images, process 1 two (fewer than one chunk of four);
- ``tiny``: process 1 a single image, fewer than its devices;
- ``empty``: process 1 no image at all.

A split followed by ``@local`` runs with a mesh over this process's devices only (a mistake the
library should catch). With ``--catch`` a ``ValueError`` is printed (``<split> process <i>:
ValueError: ...``) and the next split runs. ``--model pixels`` probes a one-layer function instead
of the ResNet (it compiles in a moment).

    python tests/multihost_probe.py OUT [--splits strided,uneven]   # with the SSVEPJAX_* variables of launch()
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
from multihost import coordinator_from_env

import ssvepjax as sj
from ssvepjax import models

N_IMAGES, SIZE = 8, 12
DESIGN = sj.Design(sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40), sj.NoiseConfig(n_neighbors=3), max_order=3)
SPLITS = ("strided", "uneven", "short", "tiny", "empty")


def model_fn(kind: str = "resnet"):
    """The per-frame function probed: a small CIFAR ResNet with the same random weights on every process."""
    if kind == "pixels":
        return lambda frame: {"relu": jnp.maximum(frame - 0.5, 0.0)}
    model = sj.CifarResNet(depth=8, width=4)
    variables = models.random_variables(model, jax.ShapeDtypeStruct((1, SIZE, SIZE, 3), jnp.float32))
    return sj.linen_fn(model, variables, capture_intermediates=False, train=False)


def dataset() -> np.ndarray:
    return np.random.default_rng(0).random((N_IMAGES, SIZE, SIZE, 3)).astype(np.float32)


def share(images: np.ndarray, split: str) -> np.ndarray:
    """This process's images."""
    i, n = jax.process_index(), jax.process_count()
    if split == "strided":
        return images[i::n]
    cut = {"uneven": 5, "short": 6, "tiny": N_IMAGES - 1, "empty": N_IMAGES}[split]
    return images[:cut] if i == 0 else images[cut:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--splits", default="strided")
    p.add_argument("--model", default="resnet", choices=("resnet", "pixels"))
    p.add_argument("--catch", action="store_true", help="print ValueErrors and go on with the next split")
    a = p.parse_args(argv)
    address, n_proc, pid = coordinator_from_env()
    runs = [item.partition("@")[::2] for item in a.splits.split(",")]
    if not all(split in SPLITS and where in ("", "local") for split, where in runs):
        p.error(f"--splits must be a comma-separated list of {SPLITS}, each optionally followed by @local")

    # --- the "Many devices and hosts" example of docs/guide/scale.md starts here ---
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts; GPUs and TPUs need no setting
    jax.distributed.initialize(address, num_processes=n_proc, process_id=pid)  # no arguments on SLURM, TPU pods

    fn, images, masks = model_fn(a.model), dataset(), sj.halves(SIZE, SIZE)
    mesh = jax.make_mesh((jax.device_count(),), ("data",))  # every device of every process
    # --- (the example goes on in the loop) ---
    local_mesh = jax.make_mesh((jax.local_device_count(),), ("data",), devices=jax.local_devices())
    for split, where in runs:
        try:
            mine = share(images, split)  # e.g. images[jax.process_index()::jax.process_count()]
            spec = sj.probe_dataset(fn, mine, masks, DESIGN, chunk_size=2 * jax.local_device_count(),
                                    mesh=local_mesh if where else mesh, progress=False)
            spec = {k: np.asarray(v) for k, v in spec.items()}  # replicated: every process holds the global mean
            # --- end of the example ---
        except ValueError as e:
            if not a.catch:
                raise
            print(f"{split}{where and '@'}{where} process {pid}: ValueError: {e}", flush=True)
            continue
        name = f"{split}{where and '_'}{where}{pid}.npz"
        np.savez(os.path.join(a.out, name), **{k.replace("/", "|"): v for k, v in spec.items()})
        print(f"process {pid} of {n_proc}: {jax.local_device_count()} of {jax.device_count()} devices, "
              f"{split}: {len(mine)} images, {len(spec)} layers", flush=True)


if __name__ == "__main__":
    main()
