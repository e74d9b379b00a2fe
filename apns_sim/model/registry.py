"""The simulator's persistent model: App IDs, certificates, keys, devices, tokens and stored notifications.

One SQLite file in the data dir (WAL), shared by the running server and by ``apns-sim portal`` in another
process, so a running server sees portal changes at once (docs/architecture.md contract 2). This is the model of the
moto/LocalStack split: behaviour and state here, no HTTP, no asyncio. Times are passed in, never read.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apns_sim.model.private_files import private_file
from apns_sim.model.records import AppIdRecord, AuthKeyRecord, CertificateRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS app_ids (
    bundle_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, wildcard INTEGER NOT NULL,
    push_enabled INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY, bundle_id TEXT NOT NULL, team_id TEXT NOT NULL, environment TEXT NOT NULL,
    topics TEXT NOT NULL, not_before REAL NOT NULL, not_after REAL NOT NULL, fingerprint TEXT NOT NULL,
    der BLOB NOT NULL, revoked_at REAL);
CREATE TABLE IF NOT EXISTS auth_keys (
    key_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, public_key_pem BLOB NOT NULL, environment TEXT,
    created_at REAL NOT NULL, revoked_at REAL);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, name TEXT NOT NULL, base_token TEXT NOT NULL, activated_at REAL NOT NULL,
    key_sha256 TEXT, cert_serial TEXT);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, device_id TEXT NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL,
    issued_at REAL NOT NULL, state TEXT NOT NULL, changed_at REAL, unregistered_at REAL,
    kind TEXT NOT NULL DEFAULT 'app');
CREATE INDEX IF NOT EXISTS tokens_by_app ON tokens (device_id, bundle_id, environment, state);
CREATE TABLE IF NOT EXISTS stored (
    device_id TEXT NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL, apns_id TEXT NOT NULL,
    message TEXT NOT NULL, stored_at REAL NOT NULL,
    PRIMARY KEY (device_id, bundle_id, environment));
CREATE TABLE IF NOT EXISTS unacked (
    device_id TEXT NOT NULL, environment TEXT NOT NULL, apns_id TEXT NOT NULL, message TEXT NOT NULL,
    stored_at REAL NOT NULL, PRIMARY KEY (device_id, environment, apns_id));
"""

# Token states. "active": answers 200. "uninstalled": the phone refused a push for it (the app is gone);
# APNs answers 410 Unregistered once ``unregistered_at`` has passed. "replaced": a token-change event
# (reinstall, restore, erase) issued a newer token; the old one is no longer valid anywhere.
ACTIVE, UNINSTALLED, REPLACED = "active", "uninstalled", "replaced"

# Token kinds. "app": the APNs token of registerForRemoteNotifications, for the bundle id's topics. "voip": the
# PushKit token of PKPushRegistry, for ``<bundle>.voip`` only (docs/device-side.md §2.7, §6 rule 28).
APP, VOIP = "app", "voip"
VOIP_SUFFIX = ".voip"
_TOKEN_COLUMNS = "token, device_id, bundle_id, environment, issued_at, state, changed_at, unregistered_at, kind"
_DEVICE_COLUMNS = "device_id, name, base_token, activated_at, key_sha256, cert_serial"
# ``cert_serial`` of an erased device: no certificate has it, so every certificate the device had is revoked.
ERASED = "erased"


@dataclass(frozen=True, kw_only=True)
class DeviceRecord:
    device_id: str
    name: str
    base_token: str
    activated_at: datetime
    # The key the device is bound to (SHA-256 of its SubjectPublicKeyInfo, hex) and the serial of its one valid
    # device certificate; both None for a device recorded before binding existed, or without activation.
    key_sha256: str | None = None
    cert_serial: str | None = None

    def accepts_certificate(self, serial: int) -> bool:
        """Whether a device certificate with this serial may connect: only the latest one issued is valid
        (activating again or erasing revokes the older ones; docs/device-side.md §1.5)."""
        return self.cert_serial is None or self.cert_serial == str(serial)


class DeviceBoundError(ValueError):
    """The device id is bound to another key: only the device itself (erase) can release it."""


@dataclass(frozen=True, kw_only=True)
class TokenRecord:
    token: str
    device_id: str
    bundle_id: str
    environment: str
    issued_at: datetime
    state: str
    changed_at: datetime | None
    unregistered_at: datetime | None
    kind: str = APP

    @property
    def topic(self) -> str:
        """The topic the phone lists in its filter for this token: the bundle id, or ``<bundle>.voip``."""
        return self.bundle_id + VOIP_SUFFIX if self.kind == VOIP else self.bundle_id


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _req_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class Registry:
    """SQLite-backed state. Thread-safe enough for one event loop plus the portal CLI in another process."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        target = ":memory:" if path is None else str(private_file(path))
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10)
        self._lock = threading.RLock()
        # Bumped by every token write. Tokens change only in the serving process (registration, uninstall and
        # token-change events arrive through the gateway), so readers may cache token records per version.
        self.token_version = 0
        # Told the device id whenever a device's certificates are revoked (activated again, erased), so the
        # gateway can close connections that used a revoked one.
        self._device_listeners: list[Callable[[str], None]] = []
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a data dir made by an older version up to this schema (``CREATE ... IF NOT EXISTS`` adds
        tables, not columns). Every token of an older data dir is an APNs token: PushKit came later. An older
        device has no key binding yet: its next activation or Connect binds it."""
        self._add_column("tokens", "kind", f"TEXT NOT NULL DEFAULT '{APP}'")
        for column in ("key_sha256", "cert_serial"):
            self._add_column("devices", column, "TEXT")

    def _add_column(self, table: str, column: str, declaration: str) -> None:
        with self._lock:
            if column in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                return
            try:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError:
                # The portal CLI in another process may have added it first; anything else is a real error.
                if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                    raise

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: object) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- App IDs -------------------------------------------------------------------------------------

    def add_app_id(self, bundle_id: str, team_id: str, wildcard: bool, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO app_ids VALUES (?, ?, ?, ?, ?)",
                (bundle_id, team_id, int(wildcard), int(not wildcard), now.timestamp()),
            )

    @staticmethod
    def _app_id(row: tuple[Any, ...]) -> AppIdRecord:
        return AppIdRecord(
            bundle_id=row[0], team_id=row[1], wildcard=bool(row[2]), push_enabled=bool(row[3]),
            created_at=_req_dt(row[4]),
        )

    def get_app_id(self, bundle_id: str) -> AppIdRecord | None:
        row = self._one("SELECT * FROM app_ids WHERE bundle_id = ?", bundle_id)
        return None if row is None else self._app_id(row)

    def list_app_ids(self) -> list[AppIdRecord]:
        return [self._app_id(r) for r in self._all("SELECT * FROM app_ids ORDER BY bundle_id")]

    # -- certificates --------------------------------------------------------------------------------

    def add_certificate(self, rec: CertificateRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(rec.serial), rec.bundle_id, rec.team_id, rec.environment, json.dumps(list(rec.topics)),
                    rec.not_before.timestamp(), rec.not_after.timestamp(), rec.fingerprint_sha256, rec.der,
                    _ts(rec.revoked_at),
                ),
            )

    @staticmethod
    def _cert(row: tuple[Any, ...]) -> CertificateRecord:
        return CertificateRecord(
            serial=int(row[0]), bundle_id=row[1], team_id=row[2], environment=row[3],
            topics=tuple(json.loads(row[4])), not_before=_req_dt(row[5]), not_after=_req_dt(row[6]),
            fingerprint_sha256=row[7], der=bytes(row[8]), revoked_at=_dt(row[9]),
        )

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        row = self._one("SELECT * FROM certificates WHERE serial = ?", str(serial))
        return None if row is None else self._cert(row)

    def list_certificates(self) -> list[CertificateRecord]:
        return [self._cert(r) for r in self._all("SELECT * FROM certificates ORDER BY not_before")]

    def revoke_certificate(self, serial: int, now: datetime) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE certificates SET revoked_at = ? WHERE serial = ? AND revoked_at IS NULL",
                (now.timestamp(), str(serial)),
            )
            return cur.rowcount > 0

    # -- auth keys -----------------------------------------------------------------------------------

    def add_auth_key(self, rec: AuthKeyRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO auth_keys VALUES (?, ?, ?, ?, ?, ?)",
                (rec.key_id, rec.team_id, rec.public_key_pem, rec.environment, rec.created_at.timestamp(),
                 _ts(rec.revoked_at)),
            )

    @staticmethod
    def _key(row: tuple[Any, ...]) -> AuthKeyRecord:
        return AuthKeyRecord(
            key_id=row[0], team_id=row[1], public_key_pem=bytes(row[2]), environment=row[3],
            created_at=_req_dt(row[4]), revoked_at=_dt(row[5]),
        )

    def get_auth_key(self, key_id: str) -> AuthKeyRecord | None:
        row = self._one("SELECT * FROM auth_keys WHERE key_id = ?", key_id)
        return None if row is None else self._key(row)

    def list_auth_keys(self, team_id: str | None = None) -> list[AuthKeyRecord]:
        if team_id is None:
            rows = self._all("SELECT * FROM auth_keys ORDER BY created_at")
        else:
            rows = self._all("SELECT * FROM auth_keys WHERE team_id = ? ORDER BY created_at", team_id)
        return [self._key(r) for r in rows]

    def revoke_auth_key(self, key_id: str, now: datetime) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE auth_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (now.timestamp(), key_id),
            )
            return cur.rowcount > 0

    # -- devices -------------------------------------------------------------------------------------

    def activate_device(self, device_id: str, name: str, now: datetime) -> DeviceRecord:
        """Record a device at activation; its 32-byte base token is minted here (docs/device-side.md §1.7)."""
        existing = self.get_device(device_id)
        if existing is not None:
            return existing
        base = secrets.token_hex(32)
        with self._tx() as db:
            db.execute("INSERT INTO devices (device_id, name, base_token, activated_at) VALUES (?, ?, ?, ?)",
                       (device_id, name, base, now.timestamp()))
        return DeviceRecord(device_id=device_id, name=name, base_token=base, activated_at=now)

    def bind_device(self, device_id: str, name: str, key_sha256: str, cert_serial: int, now: datetime
                    ) -> tuple[DeviceRecord, str | None]:
        """Activation: record the device bound to its key, with ``cert_serial`` its one valid certificate.

        A new device id is bound to ``key_sha256``; a known one bound to the same key (or to none: recorded
        before binding existed, or erased) gets the new certificate, which revokes the one before. Returns the
        device and the serial it revoked, if any. A device bound to another key raises DeviceBoundError: a
        device id is public (the admin API lists them), so knowing it must not be enough to take it over.
        """
        with self._tx() as db:
            row = db.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,)).fetchone()
            if row is None:
                base = secrets.token_hex(32)
                db.execute(f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                           (device_id, name, base, now.timestamp(), key_sha256, str(cert_serial)))
                return DeviceRecord(device_id=device_id, name=name, base_token=base, activated_at=now,
                                    key_sha256=key_sha256, cert_serial=str(cert_serial)), None
            device = self._device(row)
            if device.key_sha256 is not None and device.key_sha256 != key_sha256:
                raise DeviceBoundError(device_id)
            db.execute("UPDATE devices SET key_sha256 = ?, cert_serial = ? WHERE device_id = ?",
                       (key_sha256, str(cert_serial), device_id))
        revoked = device.cert_serial if device.cert_serial not in (None, ERASED) else None
        self._devices_changed(device_id)
        return replace(device, key_sha256=key_sha256, cert_serial=str(cert_serial)), revoked

    def adopt_device_key(self, device_id: str, key_sha256: str, cert_serial: int) -> bool:
        """A device recorded before binding existed proved its key in a Connect: bind it to that key now."""
        with self._tx() as db:
            cur = db.execute("UPDATE devices SET key_sha256 = ?, cert_serial = ? WHERE device_id = ? "
                             "AND key_sha256 IS NULL AND cert_serial IS NULL",
                             (key_sha256, str(cert_serial), device_id))
            return cur.rowcount > 0

    def erase_device(self, device_id: str, cert_serial: int) -> bool:
        """The device erased itself, proving it holds its current certificate: its certificate is revoked and
        its key binding released, so the next activation (with the new key an erased phone makes) binds it
        again. False if ``cert_serial`` is not the device's current certificate."""
        with self._tx() as db:
            cur = db.execute("UPDATE devices SET key_sha256 = NULL, cert_serial = ? WHERE device_id = ? "
                             "AND cert_serial = ?", (ERASED, device_id, str(cert_serial)))
            erased = cur.rowcount > 0
        if erased:
            self._devices_changed(device_id)
        return erased

    def subscribe_devices(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(device_id)`` after a device's certificates were revoked; returns the unsubscribe."""
        self._device_listeners.append(listener)
        return lambda: self._device_listeners.remove(listener)

    def _devices_changed(self, device_id: str) -> None:
        for listener in list(self._device_listeners):
            listener(device_id)

    @staticmethod
    def _device(row: tuple[Any, ...]) -> DeviceRecord:
        return DeviceRecord(device_id=row[0], name=row[1], base_token=row[2], activated_at=_req_dt(row[3]),
                            key_sha256=row[4], cert_serial=row[5])

    def get_device(self, device_id: str) -> DeviceRecord | None:
        row = self._one(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?", device_id)
        return None if row is None else self._device(row)

    def change_base_token(self, device_id: str, retired: str, now: datetime) -> DeviceRecord | None:
        """A restore or erase (device-side §3, rule 29): if ``retired`` is still the device's base token,
        every token of the device is replaced and a new base token issued, in one transaction. None when
        ``retired`` is not current (the event was already handled, or the device never had it)."""
        base = secrets.token_hex(32)
        with self._tx() as db:
            row = db.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ? AND base_token = ?",
                             (device_id, retired.lower())).fetchone()
            if row is None:
                return None
            db.execute("UPDATE devices SET base_token = ? WHERE device_id = ?", (base, device_id))
            db.execute("UPDATE tokens SET state = ?, changed_at = ? WHERE device_id = ? AND state = ?",
                       (REPLACED, now.timestamp(), device_id, ACTIVE))
            self.token_version += 1
        return replace(self._device(row), base_token=base)

    def list_devices(self) -> list[DeviceRecord]:
        return [self._device(r) for r in self._all(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY activated_at")]

    # -- tokens --------------------------------------------------------------------------------------

    @staticmethod
    def _token(row: tuple[Any, ...]) -> TokenRecord:
        return TokenRecord(
            token=row[0], device_id=row[1], bundle_id=row[2], environment=row[3], issued_at=_req_dt(row[4]),
            state=row[5], changed_at=_dt(row[6]), unregistered_at=_dt(row[7]), kind=row[8],
        )

    def app_token(self, device_id: str, bundle_id: str, environment: str, now: datetime, kind: str = APP,
                  ) -> TokenRecord:
        """The app's token: the same one on every registration until a token-change event (device-side §3).

        An app registering again after an uninstall gets a new token, as on iOS 9 and later. ``kind`` "voip"
        is its PushKit token, a separate one with the same lifecycle (device-side §2.7, rule 28).
        """
        if kind not in (APP, VOIP):
            raise ValueError(f"token kind must be {APP!r} or {VOIP!r}, not {kind!r}")
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE device_id = ? AND bundle_id = ? AND environment = ? "
                "AND state = ? AND kind = ?",
                (device_id, bundle_id, environment, ACTIVE, kind),
            ).fetchone()
            if row is not None:
                return self._token(row)
            token = secrets.token_hex(32)
            db.execute(
                f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                (token, device_id, bundle_id, environment, now.timestamp(), ACTIVE, kind),
            )
            self.token_version += 1
        return TokenRecord(
            token=token, device_id=device_id, bundle_id=bundle_id, environment=environment, issued_at=now,
            state=ACTIVE, changed_at=None, unregistered_at=None, kind=kind,
        )

    def get_token(self, token_hex: str) -> TokenRecord | None:
        row = self._one(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token = ?", token_hex.lower())
        return None if row is None else self._token(row)

    def list_tokens(self, device_id: str | None = None) -> list[TokenRecord]:
        if device_id is None:
            rows = self._all(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY issued_at")
        else:
            rows = self._all(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE device_id = ? ORDER BY issued_at", device_id)
        return [self._token(r) for r in rows]

    def mark_uninstalled(self, token_hex: str, now: datetime, unregistered_at: datetime) -> bool:
        """The phone refused a push for this token: its app is gone. 410 starts at ``unregistered_at``."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE tokens SET state = ?, changed_at = ?, unregistered_at = ? WHERE token = ? AND state = ?",
                (UNINSTALLED, now.timestamp(), unregistered_at.timestamp(), token_hex.lower(), ACTIVE),
            )
            self.token_version += 1
            return cur.rowcount > 0

    def replace_tokens(self, device_id: str, now: datetime, bundle_id: str | None = None) -> int:
        """A token-change event (restore, erase, reinstall): current tokens stop working (device-side §3)."""
        with self._tx() as db:
            if bundle_id is None:
                cur = db.execute(
                    "UPDATE tokens SET state = ?, changed_at = ? WHERE device_id = ? AND state = ?",
                    (REPLACED, now.timestamp(), device_id, ACTIVE),
                )
            else:
                cur = db.execute(
                    "UPDATE tokens SET state = ?, changed_at = ? WHERE device_id = ? AND bundle_id = ? AND state = ?",
                    (REPLACED, now.timestamp(), device_id, bundle_id, ACTIVE),
                )
            self.token_version += 1
            return cur.rowcount

    # -- store-and-forward ---------------------------------------------------------------------------

    def store(self, device_id: str, bundle_id: str, environment: str, apns_id: str, message: dict[str, object],
              now: datetime) -> str | None:
        """Keep one notification per app per device; returns the apns-id it replaced, if any (§11)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT apns_id FROM stored WHERE device_id = ? AND bundle_id = ? AND environment = ?",
                (device_id, bundle_id, environment),
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO stored VALUES (?, ?, ?, ?, ?, ?)",
                (device_id, bundle_id, environment, apns_id, json.dumps(message), now.timestamp()),
            )
        return None if row is None else str(row[0])

    def keep_unacked(self, device_id: str, environment: str, apns_id: str, message: dict[str, object],
                     now: datetime) -> None:
        """Keep a push written to the phone but not acknowledged, beside the one-per-app slots, not in one
        (docs/apns-protocol.md §11 "Written but not acknowledged"). The caller bounds how many."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO unacked VALUES (?, ?, ?, ?, ?)",
                       (device_id, environment, apns_id, json.dumps(message), now.timestamp()))

    def count_unacked(self, device_id: str, environment: str) -> int:
        row = self._one("SELECT COUNT(*) FROM unacked WHERE device_id = ? AND environment = ?",
                        device_id, environment)
        return 0 if row is None else int(row[0])

    def take_stored(self, device_id: str, environment: str) -> list[dict[str, object]]:
        """Remove and return what is stored for a device that just came online (the one-per-app slots and the
        unacknowledged pushes kept in full), oldest first."""
        key = (device_id, environment)
        with self._tx() as db:
            rows = db.execute(
                "SELECT message, stored_at FROM stored WHERE device_id = ? AND environment = ? UNION ALL "
                "SELECT message, stored_at FROM unacked WHERE device_id = ? AND environment = ? ORDER BY 2",
                key + key,
            ).fetchall()
            db.execute("DELETE FROM stored WHERE device_id = ? AND environment = ?", key)
            db.execute("DELETE FROM unacked WHERE device_id = ? AND environment = ?", key)
        return [json.loads(r[0]) for r in rows]

    def count_stored(self) -> int:
        row = self._one("SELECT (SELECT COUNT(*) FROM stored) + (SELECT COUNT(*) FROM unacked)")
        return 0 if row is None else int(row[0])

    def data_version(self) -> int:
        """Changes whenever another connection (the portal CLI) commits; lets callers drop caches."""
        row = self._one("PRAGMA data_version")
        return 0 if row is None else int(row[0])
