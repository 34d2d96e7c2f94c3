"""One process of a multi-process ``probe_dataset`` run (started by ``tests/multihost.launch``).

Every process builds the same model and dataset, takes its own share of the images and calls
``sj.probe_dataset`` with a mesh over the devices of all processes; every process then holds the
global mean spectra and writes them to ``OUT/spectra<process_id>.npz``. ``--split`` chooses how the
images are shared out: ``strided`` (``images[i::n]``, the README's example), ``uneven`` (process 0
five images, process 1 three), ``tiny`` (process 1 a single image, fewer than its devices) and
``short`` (process 1 fewer images than one chunk, so its chunk would be cut shorter).

    python tests/multihost_probe.py OUT [--split strided]   # with the SSVEPJAX_* variables of launch()
"""

from __future__ import annotations

import argparse
import os

import jax
import numpy as np
from multihost import coordinator_from_env

import ssvepjax as sj

N_IMAGES, SIZE = 8, 12
DESIGN = sj.Design(sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40), sj.NoiseConfig(n_neighbors=3), max_order=3)


def model_fn():
    """A small CIFAR ResNet with the same random weights on every process."""
    model = sj.CifarResNet(depth=8, width=4)
    variables = model.init(jax.random.key(0), np.zeros((1, SIZE, SIZE, 3), np.float32))
    return sj.linen_fn(model, variables, capture_intermediates=False, train=False)


def dataset() -> np.ndarray:
    return np.random.default_rng(0).random((N_IMAGES, SIZE, SIZE, 3)).astype(np.float32)


def share(images: np.ndarray, split: str) -> np.ndarray:
    """This process's images."""
    i, n = jax.process_index(), jax.process_count()
    if split == "strided":
        return images[i::n]
    cut = {"uneven": 5, "tiny": N_IMAGES - 1, "short": N_IMAGES - 2}[split]
    return images[:cut] if i == 0 else images[cut:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--split", default="strided", choices=("strided", "uneven", "tiny", "short"))
    p.add_argument("--chunk-per-device", type=int, default=2)
    a = p.parse_args(argv)
    address, n_proc, pid = coordinator_from_env()

    # --- the README's "Many devices and hosts" example starts here ---
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts; GPUs and TPUs need no setting
    jax.distributed.initialize(address, num_processes=n_proc, process_id=pid)  # no arguments on SLURM, TPU pods

    fn, images, masks = model_fn(), dataset(), sj.halves(SIZE, SIZE)
    mine = share(images, a.split)  # e.g. images[jax.process_index()::jax.process_count()]
    mesh = jax.make_mesh((jax.device_count(),), ("data",))  # every device of every process
    spec = sj.probe_dataset(fn, mine, masks, DESIGN, chunk_size=a.chunk_per_device * jax.local_device_count(),
                            mesh=mesh, progress=False)
    spec = {k: np.asarray(v) for k, v in spec.items()}  # replicated: every process holds the global mean
    # --- end of the example ---

    np.savez(os.path.join(a.out, f"spectra{pid}.npz"), **{k.replace("/", "|"): v for k, v in spec.items()})
    print(f"process {pid} of {n_proc}: {jax.local_device_count()} of {jax.device_count()} devices, "
          f"{len(mine)} images, {len(spec)} layers", flush=True)


if __name__ == "__main__":
    main()
