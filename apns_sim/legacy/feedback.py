"""The feedback service's answer, sans-IO: which tokens to report, encoded as Apple's tuples, read once.

docs/legacy-binary.md §4: a provider connects with its push certificate, sends nothing, and reads tuples of
(timestamp: 4 bytes, seconds; token length: 2 bytes; token) until the service closes the connection. Each
tuple names a token whose app the device reported gone; once read it is not reported again.

What "gone" means here is what makes HTTP/2 answer 410 (docs/apns-protocol.md §4.1): a token in state
"uninstalled" whose ``unregistered_at`` has passed on the simulator's clock; the timestamp is that moment,
so the feedback service and the 410 tell the same time (in seconds and in milliseconds). Which tokens were
already read is kept in the data dir (``legacy-feedback.json``, mode 0600), so a restart does not repeat them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from apns_sim import limits
from apns_sim.model.registry import UNINSTALLED, Registry
from apns_sim.pki import write_private

LEDGER_FILE = "legacy-feedback.json"
_HEAD = struct.Struct(">IH")


@dataclass(frozen=True, kw_only=True)
class FeedbackTuple:
    timestamp: int  # UNIX seconds, when APNs learnt the app was gone
    token: bytes


def encode_tuples(entries: Iterable[FeedbackTuple]) -> bytes:
    return b"".join(_HEAD.pack(e.timestamp, len(e.token)) + e.token for e in entries)


def decode_tuples(data: bytes) -> list[FeedbackTuple]:
    """Tuples from a complete answer; a cut last tuple raises ValueError (the service closed early)."""
    out, offset = [], 0
    while offset < len(data):
        if offset + _HEAD.size > len(data):
            raise ValueError("a feedback tuple is cut short")
        timestamp, length = _HEAD.unpack_from(data, offset)
        start = offset + _HEAD.size
        if start + length > len(data):
            raise ValueError("a feedback tuple is cut short")
        out.append(FeedbackTuple(timestamp=timestamp, token=data[start:start + length]))
        offset = start + length
    return out


class FeedbackLedger:
    """The tokens already reported, per environment, persisted in the data dir."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LEDGER_FILE
        self._read: dict[str, set[str]] = {"sandbox": set(), "production": set()}
        if self._path.is_file():
            try:
                stored = json.loads(self._path.read_text())
            except ValueError:
                stored = {}  # a damaged ledger: report again rather than fail every read
            for environment, tokens in stored.items():
                if environment in self._read and isinstance(tokens, list):
                    self._read[environment].update(str(t) for t in tokens)

    def take(self, registry: Registry, environment: str, bundle_id: str, now: float) -> list[FeedbackTuple]:
        """The tokens of ``bundle_id`` gone by ``now`` and not yet reported; they are marked reported."""
        seen = self._read[environment]
        due = []
        for record in registry.list_tokens():
            if (record.state != UNINSTALLED or record.environment != environment or record.bundle_id != bundle_id
                    or record.token in seen or record.unregistered_at is None):
                continue
            gone = record.unregistered_at.timestamp()
            if gone <= now:
                due.append((gone, record.token))
        due.sort()
        due = due[:limits.LEGACY_FEEDBACK_MAX_TUPLES]
        if due:
            seen.update(token for _, token in due)
            write_private(self._path, json.dumps({env: sorted(t) for env, t in self._read.items()}).encode())
        return [FeedbackTuple(timestamp=int(gone), token=bytes.fromhex(token)) for gone, token in due]
