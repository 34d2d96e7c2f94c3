"""Real multi-process runs of ``probe_dataset``: two JAX processes on this machine, CPU collectives (gloo).

``tests/multihost.launch`` starts the processes (a local coordinator on a free port, fake CPU
devices per process); each runs ``tests/multihost_probe.py``, the "Many devices and hosts" example of
``docs/guide/scale.md``, on its own share of the images. The single-process result on all images is the
reference.

A bad split stops every process with a ``ValueError`` before the first collective (a process without
images; a mesh over one process's devices; processes with different device counts), and a process
with fewer images than devices pads with zero-weight images.
"""

import os
import tempfile

import numpy as np
import pytest
from conftest import assert_close
from multihost import launch

import ssvepjax as sj

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "multihost_probe.py")
pytestmark = pytest.mark.slow


def worker_module():
    import multihost_probe

    return multihost_probe


def reference(kind: str):
    """Spectra of all images in this (single) process, on one device."""
    w = worker_module()
    return sj.probe_dataset(w.model_fn(kind), w.dataset(), sj.halves(w.SIZE, w.SIZE), w.DESIGN, chunk_size=4,
                            progress=False)


def run(splits: str, devices=(2, 2), model="resnet", timeout_s=120.0, catch=False):
    out = tempfile.mkdtemp(prefix="ssvepjax-multihost-")
    args = [out, "--splits", splits, "--model", model, *(["--catch"] if catch else [])]
    return out, launch(WORKER, len(devices), list(devices), args, timeout_s=timeout_s)


def load(out, name):
    with np.load(os.path.join(out, name)) as f:
        return {k.replace("|", "/"): f[k] for k in f.files}


def test_two_processes_equal_one_process():
    """Two processes x two devices, images shared out evenly and unevenly: every process gets the global mean."""
    out, results = run("strided,uneven,short")
    for r in results:
        assert r.returncode == 0, r.tail()
    want = reference("resnet")
    for split in ("strided", "uneven", "short"):
        got = [load(out, f"{split}{pid}.npz") for pid in (0, 1)]
        assert sorted(got[0]) == sorted(want)
        for k in want:
            assert_close(got[0][k], want[k])
            np.testing.assert_array_equal(got[1][k], got[0][k])  # one all-reduce, the same bits everywhere


def test_bad_splits_raise_on_every_process_or_pad():
    """A process with fewer images than devices pads with zero-weight images (the result is the global mean);
    a process without images, or a mesh over one process's devices, raises a ValueError on every process."""
    out, results = run("tiny,empty,strided@local", model="pixels", timeout_s=40.0, catch=True)
    for r in results:
        assert not r.timed_out, r.tail()
    want = reference("pixels")
    for pid in (0, 1):
        assert_close(load(out, f"tiny{pid}.npz")["relu"], want["relu"])
        assert f"empty process {pid}: ValueError" in results[pid].stdout, results[pid].tail()
        assert f"strided@local process {pid}: ValueError" in results[pid].stdout, results[pid].tail()


def test_different_device_counts_raise_a_clear_error():
    out, results = run("strided", devices=(1, 2), model="pixels", timeout_s=40.0, catch=True)
    for r in results:
        assert not r.timed_out, r.tail()
        tag = f"strided process {r.process_id}: ValueError"
        line = next((x for x in r.stdout.splitlines() if x.startswith(tag)), "")
        assert "device" in line and "reshape" not in line, r.tail()  # a message about the devices, not JAX's
