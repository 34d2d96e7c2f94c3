"""Where the loop runs: meshes, several processes (hosts), and JAX's persistent compilation cache."""

from __future__ import annotations

from collections.abc import Iterator

import jax
import numpy as np
from jax.sharding import Mesh

try:  # public since JAX 0.7; the experimental module before
    shard_map = jax.shard_map
    NO_VMA_CHECK = {"check_vma": False}
except AttributeError:  # pragma: no cover
    from jax.experimental.shard_map import shard_map  # noqa: F401

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


__all__ = ["NO_VMA_CHECK", "any_process", "check_mesh", "enable_compilation_cache", "shard_map", "synchronised"]
