"""Advisory file locks (``fcntl.flock``) for state that two processes of one user may share.

Two ``ssvepjax run`` started at once with the same settings both need the same cached model, and may
write into the same ``--out``. A lock file beside the shared folder says who holds it: the kernel drops
the lock when its process ends (a crash or SIGKILL too), so a stale lock never blocks a later run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def _open(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a+")


def _holder(f) -> str:
    with contextlib.suppress(OSError, ValueError):
        f.seek(0)
        text = f.read().strip()
        if text:
            return f" (pid {text})"
    return ""


def _mark(f) -> None:
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()


@contextlib.contextmanager
def waiting_lock(path: str | os.PathLike, what: str, announce=print):
    """Hold an exclusive lock on ``path``; if another process holds it, say so in one line and wait."""
    f = _open(Path(path))
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            announce(f"ssvepjax: waiting for another process{_holder(f)} that is writing {what}")
            fcntl.flock(f, fcntl.LOCK_EX)
        _mark(f)
        yield
    finally:
        f.close()  # closing the descriptor releases the lock


def exclusive_lock(path: str | os.PathLike, refusal: str):
    """Take an exclusive lock on ``path`` for the rest of this process (return its file; keep it alive).

    Raises ``ValueError(refusal + holder)`` at once if another process holds it.
    """
    f = _open(Path(path))
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(f)
        f.close()
        raise ValueError(f"{refusal}{holder}") from None
    _mark(f)
    return f
