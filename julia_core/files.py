"""One way to write a file so that a reader never sees half of it, and one lock file to take turns."""
import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back, once at
    os.umask(mask)          # import, not per write, where another thread may be creating files
    return mask


_UMASK = _read_umask()


def write_atomic(path: Path, write: Callable[[BinaryIO], object], replace: bool = True) -> None:
    """Call write(file) on a temporary file in the same folder, fsync, rename over path.
    On any failure the temporary file is removed and the old file, if any, is left as it was.
    With replace=False an existing path is FileExistsError and left alone (a hard link, which
    unlike a rename refuses to overwrite: two writers never take one name)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)  # an ordinary file, not mkstemp's private 0600: runs are shared
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            _rename_new(temporary, path)
        _sync_folder(path.parent)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _rename_new(temporary: str, path: Path) -> None:
    """Rename, refusing an existing path with FileExistsError: a hard link refuses atomically;
    where the file system has none (exFAT, some network and FUSE mounts) the name is reserved by
    an exclusive create first, then replaced."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def _sync_folder(folder: Path) -> None:
    """The rename itself survives a power cut only once the folder's entry is on disk."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename has still happened
    finally:
        os.close(handle)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda file: file.write(text.encode()))


@contextmanager
def file_lock(path: Path, wait: bool = True):
    """An exclusive flock on `path` (made, with its folder, when missing) for the block; yields
    whether this process holds it (always, when it may wait)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
