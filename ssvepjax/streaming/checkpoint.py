"""Orbax checkpoints of a streamed reduction's state, with a check that a resumed run has the same settings."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys

import jax
from jaxtyping import PyTree


def _shapes(state: PyTree) -> list:
    return [[jax.tree_util.keystr(p), list(v.shape), str(v.dtype)]
            for p, v in jax.tree_util.tree_flatten_with_path(state)[0]]


class Checkpoints:
    """The latest state of a reduction in ``folder`` (orbax; one checkpoint kept), keyed by chunks done.

    ``meta`` (chunk size, devices, processes, the reduction's name) and the state's shapes are written
    beside it as ``settings.json``; :meth:`restore` refuses a folder written with other settings.
    """

    def __init__(self, folder, meta: dict):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.folder = os.path.abspath(os.fspath(folder))
        self.meta = meta
        self.mngr = None
        self.mngr = self._manager()

    def _manager(self):
        return self.ocp.CheckpointManager(self.folder, options=self.ocp.CheckpointManagerOptions(max_to_keep=1))

    def restore(self, state: PyTree) -> tuple[PyTree, int]:
        """``(state, chunks done)``: the latest checkpoint, or ``(state, 0)`` if there is none.

        A checkpoint that cannot be read back (a file cut short, a half-written step, a damaged
        ``settings.json``) is deleted with one line on stderr and the reduction starts again from 0.
        """
        try:
            latest = self.mngr.latest_step()
            if latest is None:
                return state, 0
            path = os.path.join(self.folder, "settings.json")
            saved = None
            if os.path.exists(path):
                with open(path) as f:
                    saved = json.load(f)
        except Exception as e:  # noqa: BLE001 (any damage to the folder)
            return self._start_again(state, e)
        want = {**self.meta, "state": _shapes(state)}
        if saved != json.loads(json.dumps(want)):
            raise ValueError(f"checkpoint_dir {self.folder} holds a probe with other settings ({saved}); these "
                             f"are {want}: use another folder")
        try:
            return self.mngr.restore(latest, args=self.ocp.args.StandardRestore(state)), int(latest)
        except Exception as e:  # noqa: BLE001 (the arrays cannot be read back)
            return self._start_again(state, e)

    def _start_again(self, state: PyTree, error: Exception) -> tuple[PyTree, int]:
        print(f"ssvepjax: the probe checkpoint {self.folder} is damaged ({type(error).__name__}): starting it "
              "again", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            self.mngr.close()
        if jax.process_index() == 0:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.mngr = self._manager()
        return state, 0

    def save(self, chunks_done: int, state: PyTree) -> None:
        if jax.process_index() == 0:
            os.makedirs(self.folder, exist_ok=True)
            tmp = os.path.join(self.folder, f".settings.json.{os.getpid()}")
            with open(tmp, "w") as f:
                json.dump({**self.meta, "state": _shapes(state)}, f)
            os.replace(tmp, os.path.join(self.folder, "settings.json"))
        self.mngr.save(chunks_done, args=self.ocp.args.StandardSave(state))
        self.mngr.wait_until_finished()  # the next step donates these buffers

    def close(self) -> None:
        self.mngr.wait_until_finished()
        self.mngr.close()


__all__ = ["Checkpoints"]
