"""A throwaway PostgreSQL cluster for the provider's tests (docs/provider-service.md §6).

Started once per test session in a temporary directory, on 127.0.0.1 with a free port and a random
password, as an unprivileged user: PostgreSQL refuses to run as root, so under root (CI) the cluster belongs
to Debian's ``postgres`` user and every PostgreSQL binary runs through ``runuser``. Removed at exit.
``scripts/test-setup`` installs Debian's ``postgresql``; when its binaries are missing the tests that need
them FAIL with the reason, they are never skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def postgres_bin() -> Path:
    """Debian installs initdb/pg_ctl in /usr/lib/postgresql/<version>/bin, off PATH: take the newest."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise AssertionError(
            "PostgreSQL's initdb/pg_ctl were not found (neither on PATH nor in /usr/lib/postgresql/*/bin): "
            "run scripts/test-setup, which installs Debian's postgresql package"
        )
    return versions[-1].parent


@dataclass
class Cluster:
    directory: Path
    port: int
    password: str
    owner: str | None
    bin: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if self.owner else []
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


_cluster: Cluster | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster() -> Cluster:
    """The session's cluster, started on first use."""
    global _cluster
    if _cluster is not None:
        return _cluster
    bin_dir = postgres_bin()
    owner = None
    directory = Path(tempfile.mkdtemp(prefix="pushsim-pg-"))
    if os.geteuid() == 0:
        owner = "postgres"
        try:
            user = pwd.getpwnam(owner)
        except KeyError:
            raise AssertionError("running as root needs the 'postgres' user (Debian's postgresql package creates it)"
                                 ) from None
        os.chown(directory, user.pw_uid, user.pw_gid)
    directory.chmod(0o700)
    password = secrets.token_urlsafe(18)
    c = Cluster(directory=directory, port=_free_port(), password=password, owner=owner, bin=bin_dir)
    pwfile = directory / "pw"
    pwfile.write_text(password + "\n")
    if owner:
        user = pwd.getpwnam(owner)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    pwfile.chmod(0o600)
    data = directory / "data"
    try:
        c._run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
               f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C")
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -p {c.port} -k {directory} -c fsync=off"
                   " -c max_connections=200 -c shared_buffers=32MB")
        c._run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"),
               "-w", "-t", "60", "start")
    except BaseException:
        c.stop()
        raise
    atexit.register(c.stop)
    _cluster = c
    return c


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A fresh, empty database in the session's cluster; its URL; dropped afterwards."""
    import psycopg

    c = cluster()
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(c.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield c.url(name)
    finally:
        with psycopg.connect(c.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def store_target(kind: str, directory: Path) -> Iterator[str]:
    """Where a provider store lives in a test: ``kind`` "sqlite" (a file in ``directory``) or "postgres"
    (a fresh database in the session's cluster); migrated either way."""
    from provider.stores import Store

    with contextlib.ExitStack() as stack:
        target = str(directory / "provider.db") if kind == "sqlite" else stack.enter_context(database())
        Store(target, migrate=True).close()
        yield target
