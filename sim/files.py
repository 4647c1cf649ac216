"""Files written whole or not at all: the one way sim/ writes a file.

Every file is written to a temporary name in its own folder, flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX), so a reader never sees half a file and
an interrupted run leaves every earlier file intact. Nothing replaces an existing path that
is not a regular file (a device, FIFO, socket or symbolic link).

Standard library only, and outside the layers of sim/ (docs/architecture.md): figures
(:mod:`sim.analysis.plots`), GIS layers, run folders and sweep stores
(:mod:`sim.experiment.store`) all write through it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import signal
import stat
import sys
import tempfile
from pathlib import Path


class OutputError(OSError):
    """The output folder cannot be written. The message is meant for the user as is."""


_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a folder",
    stat.S_IFREG: "a file",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_replaceable(path: Path) -> None:
    """Refuse a target that exists and is not a regular file: a rename would replace the
    device node, FIFO or link itself (``--out /dev/full`` used to become an HTML file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: exists and is {_kind(st.st_mode)}; refusing to replace it")


def ensure_folder(path: Path) -> Path:
    """Create ``path`` (and parents) as a folder; refuse one that is a link or not a folder."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{path}: cannot write results here ({err.strerror})") from None
        return path
    except OSError as err:
        raise OutputError(f"{path}: cannot use as output folder ({err.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(
            f"{path}: exists and is {_kind(st.st_mode)}, not a folder; cannot write results there"
        )
    return path


def probe_writable(folder: Path) -> None:
    """Write and remove a small file, so an unwritable folder is found before simulating."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"jiefang")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as err:
        raise OutputError(f"{folder}: cannot write results here ({err.strerror})") from None


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, then rename). ``durable``
    flushes the file to disk before the rename; a sweep store passes False and makes a
    batch of runs durable at once (:meth:`sim.experiment.sweepstore.SweepStore.sync`): a
    kill of the process never loses written data either way, only a crash of the machine
    does."""
    path = Path(path)
    check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path.parent}: cannot write results here ({err.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        check_replaceable(path)  # again: the write may have taken a while
        os.replace(tmp, path)
        fault_point(f"wrote {path.name}")
    except OutputError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({err.strerror})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{folder}: cannot write results here ({err.strerror})") from None


def _write_unsynced(path: Path, data: bytes) -> None:
    """:func:`atomic_write_bytes` for a sweep store's run files, in five system calls
    (open, write, close, lstat, rename) instead of about twelve: the folder exists, the
    kernel applies the umask to the mode, and the batch's sync makes it durable. It is
    the driver's main cost per run once the workers do the rest."""
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666)  # fmt: skip
    except OSError as err:
        raise OutputError(f"{path.parent}: cannot write results here ({err.strerror})") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        check_replaceable(path)
        os.replace(tmp, path)
        fault_point(f"wrote {path.name}")
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise OutputError(f"{path}: cannot write ({err.strerror})") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256(path: Path) -> str:
    # Read in blocks: a city year's incident table is hundreds of MB.
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sync_file_system(path: Path) -> None:
    """Flush the whole file system holding ``path`` (Linux ``syncfs``: data, and the
    renames that named it); ``sync`` where there is no ``syncfs``."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
    os.sync()


def fsync_folder(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]  # fmt: skip
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def fault_point(label: str) -> None:
    """Test hook: with ``JIEFANG_KILL_AT=N`` in the environment, the N-th write step of this
    process kills it with SIGKILL, so tests can stop a run at every step it takes. Unset (the
    normal case) it only counts."""
    global _steps
    _steps += 1
    if os.environ.get("JIEFANG_KILL_AT") == str(_steps):
        os.kill(os.getpid(), signal.SIGKILL)


_steps = 0
