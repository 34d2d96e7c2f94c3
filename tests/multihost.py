"""Start several JAX processes on this machine, as several hosts would run one script (test helper).

``launch(script, n_processes)`` starts ``n_processes`` Python processes of ``script``, each told its
place through the environment (``SSVEPJAX_COORDINATOR``, ``SSVEPJAX_NUM_PROCESSES``,
``SSVEPJAX_PROCESS_ID``) and given ``devices_per_process`` fake CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N``). The script calls
``jax.distributed.initialize`` with them (``coordinator_from_env``). A process that is still running
after ``timeout_s`` (a collective waiting for a peer that has failed) is killed, and its result says so.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class ProcessResult:
    """What one process did: exit status (None if killed at the timeout), its output and run time."""

    process_id: int
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def tail(self, n: int = 3000) -> str:
        return f"--- process {self.process_id} (rc={self.returncode}) ---\n{self.stdout[-n:]}\n{self.stderr[-n:]}"


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago (the coordinator binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def coordinator_from_env() -> tuple[str, int, int]:
    """``(coordinator_address, num_processes, process_id)`` from :func:`launch`, for ``jax.distributed.initialize``."""
    return (os.environ["SSVEPJAX_COORDINATOR"], int(os.environ["SSVEPJAX_NUM_PROCESSES"]),
            int(os.environ["SSVEPJAX_PROCESS_ID"]))


def launch(script: str, n_processes: int = 2, devices_per_process: int | Sequence[int] = 1, args: Sequence[str] = (),
           timeout_s: float = 120.0, env: dict | None = None) -> list[ProcessResult]:
    """Run ``python script *args`` as ``n_processes`` cooperating JAX processes; wait for all of them.

    Args:
        script: path of the Python script every process runs.
        n_processes: how many processes (the script's ``jax.process_count()``).
        devices_per_process: CPU devices of each process, one number for all or one per process.
        args: command-line arguments for the script (the same for every process).
        timeout_s: seconds after which processes still running are killed (their ``returncode`` is None).
        env: extra environment variables.

    Returns:
        One :class:`ProcessResult` per process, in process order.
    """
    if isinstance(devices_per_process, int):
        devices_per_process = [devices_per_process] * n_processes
    if len(devices_per_process) != n_processes:
        raise ValueError(f"devices_per_process must give one count per process ({n_processes}), "
                         f"got {list(devices_per_process)}")
    port = free_port()
    procs, files = [], []
    start = time.monotonic()
    for pid, n_dev in enumerate(devices_per_process):
        penv = dict(os.environ, **(env or {}))
        penv.update(
            SSVEPJAX_COORDINATOR=f"localhost:{port}", SSVEPJAX_NUM_PROCESSES=str(n_processes),
            SSVEPJAX_PROCESS_ID=str(pid), JAX_PLATFORMS="cpu",
            XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n_dev}".strip(),
            PYTHONPATH=os.pathsep.join(p for p in (REPO, penv.get("PYTHONPATH", "")) if p))
        # Files, not pipes: a process that writes much while another is waited on never blocks.
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        files.append((out, err))
        procs.append(subprocess.Popen([sys.executable, script, *args], env=penv, stdout=out, stderr=err,
                                      text=True, cwd=REPO))
    ends = [None] * n_processes
    while any(e is None for e in ends) and time.monotonic() - start < timeout_s:
        for i, p in enumerate(procs):
            if ends[i] is None and p.poll() is not None:
                ends[i] = time.monotonic() - start
        time.sleep(0.05)
    results = []
    for i, p in enumerate(procs):
        if p.poll() is None:
            p.kill()
            p.wait()
            rc = None
        else:
            rc = p.returncode
        out, err = files[i]
        out.seek(0)
        err.seek(0)
        results.append(ProcessResult(i, rc, out.read(), err.read(), ends[i] or time.monotonic() - start))
        out.close()
        err.close()
    return results
