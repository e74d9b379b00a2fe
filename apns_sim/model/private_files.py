"""The data dir and its databases are the user's alone: 0700 for directories, 0600 for files, no symlinks.

The data dir holds the CA's key, provider keys and every token (docs/limits.md §4). Created private; an existing
directory others can read or enter is tightened with a warning (it may be an older data dir); a database
file that is a symlink is refused, so a file planted in a shared directory is never opened in its place.
SQLite creates its ``-wal`` and ``-shm`` files with the mode of the database file, so 0600 covers them too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("apns_sim.data_dir")


class UnsafePath(OSError):
    """A file in the data dir that must not be used (a symlink where a database belongs)."""


def private_dir(path: Path) -> Path:
    """Create ``path`` 0700 (parents as the umask says), or tighten an existing one that others may use."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and path.stat().st_uid == os.getuid():
        log.warning("%s was mode %o: others could read the keys and tokens in it; now 0700", path, mode)
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if missing, refuse a symlink, tighten a file others may read."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise UnsafePath(f"{path} is a symlink; refusing to open it (remove it or use another data dir)") from exc
        raise
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            log.warning("%s was mode %o; now 0600", path, mode)
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def check_trusted(path: Path) -> None:
    """Refuse a file the simulator would trust (the CA, its keys, the database) when another user could have
    planted or changed it: a symlink, a file owned by someone else, or one that group or others may write."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath(f"{path} is a symlink; refusing to trust it (remove it or use another data dir)")
    if info.st_uid != os.getuid():
        raise UnsafePath(f"{path} belongs to uid {info.st_uid}, not to this user; refusing to trust it")
    if info.st_mode & 0o022:
        raise UnsafePath(f"{path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}); refusing to trust it")
