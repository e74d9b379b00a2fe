"""The apns-ids this phone has taken, on disk: a push APNs writes again is acknowledged, never shown twice.

APNs writes a push again when it did not see the phone's acknowledgement (the connection dropped, the phone
was killed before the ack left it, or the ack was lost): docs/device-side.md §1.10 "Written but not
acknowledged". The phone notes each apns-id before it acknowledges the push and before the app sees it; a
push whose apns-id is already noted is acknowledged and reported as ``not_presented`` (``duplicate``), so the
same apns-id reaches the app at most once, across reconnects, restarts and ``kill -9`` of ``device-sim run``.

The file is ``presented-ids`` in the state dir, one apns-id a line, appended with one ``write`` per push: a
``kill -9`` cannot lose a line the kernel already has (no fsync: a power cut may, and is out of scope). It is
bounded: the newest :data:`KEEP` ids are remembered, and the file is rewritten (atomically) once it holds
twice that. APNs keeps an unacknowledged push at most 30 days and rewrites it at the next connection, so
the window only has to cover the pushes between two connections.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from pathlib import Path

from device_sim.identity.store import write_file

log = logging.getLogger("device_sim.phone")

KEEP = 4096  # apns-ids remembered (docs/device-side.md §1.10): far more than one connection has in flight
FILE_NAME = "presented-ids"
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class PresentedLog:
    """The apns-ids already taken, newest last: ``first_time(apns_id)`` notes one and says if it is new."""

    def __init__(self, state_dir: Path, keep: int = KEEP) -> None:
        self.path = state_dir / FILE_NAME
        self._keep = keep
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lines = 0
        self._fd: int | None = None
        self._load()

    def __contains__(self, apns_id: object) -> bool:
        return isinstance(apns_id, str) and apns_id.lower() in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def first_time(self, apns_id: str) -> bool:
        """True (and noted, on disk) if the phone never took ``apns_id``; False for a repeat."""
        key = apns_id.lower()
        if key in self._ids:
            return False
        if self._lines >= 2 * self._keep:
            self._compact()
        self._ids[key] = None
        while len(self._ids) > self._keep:
            self._ids.popitem(last=False)
        self._append(key)
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- the file ----------------------------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        except OSError as exc:  # a planted symlink (ELOOP) or an unreadable file: start empty, say so
            log.warning("%s: not read (%s); repeated pushes may be shown again", self.path, exc.strerror or exc)
            return
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        for line in data.decode("ascii", "replace").splitlines():
            self._lines += 1
            if _ID.fullmatch(line):  # a torn last line (a crash mid-write) is skipped
                self._ids[line] = None
                self._ids.move_to_end(line)
        while len(self._ids) > self._keep:
            self._ids.popitem(last=False)

    def _append(self, apns_id: str) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.write(self._fd, f"{apns_id}\n".encode())
            self._lines += 1
        except OSError as exc:  # a full disk must not cost the push: it is still shown, once in this run
            log.warning("%s: apns-id not saved (%s)", self.path, exc.strerror or exc)

    def _compact(self) -> None:
        """Rewrite the file with only the remembered ids (a temporary file renamed over it)."""
        self.close()
        body = "".join(f"{i}\n" for i in self._ids)
        write_file(self.path, body.encode(), 0o600)
        self._lines = len(self._ids)
