"""Folder locks: two commands writing one folder cannot interleave (:class:`FolderLock`)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from sim.files import (  # re-exported: the names sim.experiment.store always had
    OutputError,
    check_replaceable,
)


class FolderLock:
    """An exclusive ``flock`` on the file ``path`` for as long as the ``with`` block runs, so
    two commands writing one folder cannot interleave; the second gets a clear error at once.
    The lock file is removed on exit; a holder checks after locking that the name still
    refers to the file it locked, so a file being removed is never taken as a lock."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.fd: int | None = None

    def _busy(self) -> OutputError:
        return OutputError(
            f"{self.what}: another jiefang command is writing there now; wait for it to "
            "finish or choose another --out"
        )

    def __enter__(self) -> FolderLock:
        check_replaceable(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise OutputError(f"{self.path}: cannot create a lock file ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            same = os.path.samestat(os.fstat(fd), os.lstat(self.path))
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.ENOENT):
                raise self._busy() from None
            raise OutputError(f"{self.path}: cannot lock ({err.strerror})") from None
        if not same:  # the holder removed it between our open and our lock
            os.close(fd)
            raise self._busy()
        self.fd = fd
        _held_locks.add(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            _held_locks.discard(self.fd)
            os.close(self.fd)  # closing releases the flock
            self.fd = None


#: Descriptors of the folder locks this process holds.
_held_locks: set[int] = set()


def _drop_inherited_locks() -> None:
    """In a forked child (a sweep worker): close the parent's lock descriptors. A flock
    belongs to the open file, so a worker outliving a killed driver for a moment would
    otherwise keep the folder locked against the resumed sweep."""
    for fd in _held_locks:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)
