"""Where the loop runs: meshes, several processes (hosts), and JAX's persistent compilation cache."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import jax
import numpy as np
from jax.sharding import Mesh

try:  # public since JAX 0.7; the experimental module before
    shard_map = jax.shard_map
    #: ``shard_map`` keyword that turns its replication check off (its name changed between JAX versions).
    NO_VMA_CHECK = {"check_vma": False}
except AttributeError:  # pragma: no cover
    from jax.experimental.shard_map import shard_map  # noqa: F401

    #: ``shard_map`` keyword that turns its replication check off (its name changed between JAX versions).
    NO_VMA_CHECK = {"check_rep": False}


def enable_compilation_cache(cache_dir: str, *, min_compile_time_s: float = 0.0) -> None:
    """Turn on JAX's persistent compilation cache in ``cache_dir`` (process-wide).

    Later processes that compile the same programs (same model, shapes, design, devices and JAX
    version) load them from disk instead of compiling. ``min_compile_time_s`` skips caching programs
    that compile faster than that.
    """
    if not isinstance(cache_dir, (str, bytes)) and not hasattr(cache_dir, "__fspath__"):
        raise ValueError(f"cache_dir must be a path, got {cache_dir!r}")
    if not (isinstance(min_compile_time_s, (int, float)) and min_compile_time_s >= 0):
        raise ValueError(f"min_compile_time_s must be a number >= 0, got {min_compile_time_s!r}")
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def check_mesh(mesh, axis_name: str) -> Mesh:
    """``mesh``, or a one-device mesh named ``axis_name``; ``ValueError`` for a mesh without that axis."""
    if mesh is None:
        return Mesh(np.asarray(jax.devices()[:1]), (axis_name,))
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    if axis_name not in mesh.axis_names:
        raise ValueError(f"mesh has axes {tuple(mesh.axis_names)}, no axis named {axis_name!r} "
                         f"(pass axis_name= one of them)")
    return mesh


def devices_per_process(mesh: Mesh, axis_name: str) -> int:
    """Devices of this process along ``axis_name`` of ``mesh``; ``ValueError`` unless every process has as many.

    With several processes (hosts) the mesh must hold devices of every process, the same number each
    (each process feeds its own examples to its own devices). Decided from the mesh alone, so every
    process raises the same error without a collective.
    """
    n_proc = jax.process_count()
    n_axis = int(mesh.shape[axis_name])
    if n_proc == 1:
        return n_axis
    counts = collections.Counter(d.process_index for d in mesh.devices.flat)
    missing = sorted(set(range(n_proc)) - set(counts))
    if missing:
        raise ValueError(f"mesh holds no device of process(es) {missing} of {n_proc}: with several processes, "
                         f"build the mesh over every process's devices (e.g. jax.make_mesh((jax.device_count(),), "
                         f"({axis_name!r},)))")
    if len(set(counts.values())) > 1:
        raise ValueError(f"processes hold different numbers of devices on the mesh "
                         f"({dict(sorted(counts.items()))}): every process needs the same number of devices")
    per_process = n_axis * counts[jax.process_index()] // mesh.devices.size
    return max(per_process, 1)


def any_process(flag: bool) -> bool:
    """True if ``flag`` is True on any process (a collective: every process must call it)."""
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


def synchronised(chunks: Iterator, filler, n_proc: int) -> Iterator:
    """The chunks of this process, then, with several processes, ``filler`` chunks until every process is done.

    Every process must run the same number of steps (each step is a collective program).
    """
    for item in chunks:
        if n_proc > 1:
            any_process(True)
        yield item
    if n_proc > 1:
        while any_process(False):
            yield filler


__all__ = ["NO_VMA_CHECK", "any_process", "check_mesh", "devices_per_process", "enable_compilation_cache", "shard_map",
           "synchronised"]
