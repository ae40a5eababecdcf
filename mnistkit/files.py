"""Safe file writes: a temp file beside the target, fsync, rename into place.

A writer killed midway leaves only a ``.partial-<pid>-…`` file, never a damaged file under the real
name; ``remove_stale_partials`` clears those whose writer is no longer running. Every file mnistkit writes goes
through here: the MNIST cache, saved models and exports, executed notebooks, doctor's timings.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PARTIAL = ".partial-"


def atomic_write(dest: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` on a temp path beside ``dest`` (same suffix), then rename it to ``dest``.

    Readers see the old file or the new one, never half of one; if ``write`` fails or the process
    dies, ``dest`` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f"{PARTIAL}{os.getpid()}-", suffix=f"-{dest.name}")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        write(Path(tmp))
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def atomic_write_dir(dest: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_folder)`` on a folder path beside ``dest``, then swap it in for ``dest``.

    The old folder is moved into the same partial folder first and deleted with it, so readers find the old
    folder or the new one (or, for an instant between two renames, none), never half of one; if ``write``
    fails or the process dies, ``dest`` is untouched and only a partial folder is left.
    """
    dest = Path(dest)
    tmp = partial_dir(dest.parent)
    try:
        write(tmp / "new")
        if dest.exists():
            dest.rename(tmp / "old")
        (tmp / "new").rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically (fsynced before the rename). Returns ``dest``."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return atomic_write(dest, write)


def can_create_in(folder: str | os.PathLike) -> bool:
    """Whether files can be made in ``folder``: it, or the nearest existing folder above it that would hold it, is a
    folder this user may write to."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def partial_dir(parent: str | os.PathLike) -> Path:
    """A fresh temporary folder inside ``parent`` named like a partial write (for downloads)."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=f"{PARTIAL}{os.getpid()}-"))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(folder: str | os.PathLike) -> list[Path]:
    """Delete partial files and folders in ``folder`` left by writers that are no longer running."""
    removed = []
    for path in Path(folder).glob(f"{PARTIAL}*"):
        pid = path.name[len(PARTIAL):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed

