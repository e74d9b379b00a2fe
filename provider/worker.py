"""The sender: claims outbox rows, sends them to APNs, records the answers (docs/provider-service.md §3).

One ``Worker`` runs inside ``apns-provider serve`` (it sends what the API accepted, and picks up what a
crashed process left) and each ``apns-provider worker`` process runs one more. They share the outbox
through leases: a row is claimed for ``lease`` seconds, renewed while its send is in flight, and claimable
again when a sender dies. A send without an answer (connection lost, timeout) leaves the row pending with
the same apns-id, to be claimed again after ``retry`` seconds: the service, not the caller, owns the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from typing import Any, Protocol

from provider.apns.errors import TransportError
from provider.apns.notification import Notification
from provider.apns.protocol import Result
from provider.stores import PendingNotification, Store

log = logging.getLogger("provider.worker")


class Sender(Protocol):
    """What the service needs from an APNs client (``APNsClient`` fits)."""

    async def send(self, notification: Notification) -> Result: ...


def outcome(
    token: str, apns_id: str | None, result: Result | None = None, error: str | None = None
) -> dict[str, Any]:
    """One notification's line in an answer of ``POST /v1/notifications``."""
    out: dict[str, Any] = {
        "token": token,
        "apns_id": apns_id,
        "state": "pending" if result is None else "done",
        "status": None if result is None else result.status,
        "reason": None if result is None else result.reason,
        "timestamp": None if result is None else result.timestamp,
    }
    if error is not None:
        out["error"] = error
    return out


def entry_outcome(row: Mapping[str, Any]) -> dict[str, Any]:
    """The same line, rebuilt from an outbox row (an idempotent replay answers from the outbox)."""
    return {
        "token": row["token"],
        "apns_id": row["apns_id"],
        "state": row["state"],
        "status": row["status"],
        "reason": row["reason"],
        "timestamp": row["timestamp"],
    }


def worker_name(role: str) -> str:
    """Unique per process and start, readable in the outbox's ``claimed_by`` column."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        *,
        name: str | None = None,
        concurrency: int = 100,
        lease: float = 30.0,
        retry: float = 1.0,
        poll: float = 0.05,
    ) -> None:
        if concurrency < 1 or lease <= 0 or retry < 0 or poll <= 0:
            raise ValueError("concurrency must be >= 1, lease and poll > 0, retry >= 0")
        self.store = store
        self.senders = senders
        self.name = name or worker_name("worker")
        self.concurrency = concurrency
        self.lease_ms = int(lease * 1000)
        self.retry_ms = int(retry * 1000)
        self.poll = poll
        self.inflight: set[str] = set()
        self.sent = 0
        self._answers: list[tuple[tuple[str, int | None, str | None, int | None], asyncio.Future[None]]] = []

    async def send_claimed(self, environment: str, n: Notification) -> dict[str, Any]:
        """Send one row this worker holds; record the answer, or leave it pending for a resend."""
        apns_id = n.apns_id or ""
        sender = self.senders.get(environment)
        if sender is None:  # another process serves that environment: let its lease lapse for it
            self.store.release(apns_id, 0)
            return outcome(n.token, apns_id, error=f"this process does not send to the {environment} environment")
        self.inflight.add(apns_id)
        try:
            result = await sender.send(n)
        except TransportError as exc:
            self.store.release(apns_id, self.retry_ms)
            log.warning("no answer from APNs for %s (kept for a resend): %s", apns_id, exc)
            return outcome(n.token, apns_id, error=f"no answer from APNs yet: {exc}")
        finally:
            self.inflight.discard(apns_id)
        await self._record(apns_id, result)
        self.sent += 1
        if result.status != 200 and self.store.apply_result(  # a 200 never changes a token
                n.token, result.status, result.reason, result.timestamp, bundle_id=n.topic,
                environment=environment):
            log.info("deactivated token %s… (%s)", n.token[:8], result.reason)
        log.debug("sent %s to %s…: %s %s", apns_id, n.token[:8], result.status, result.reason or "")
        return outcome(n.token, apns_id, result)

    async def _record(self, apns_id: str, result: Result) -> None:
        """Write Apple's answer down. Answers that arrive in the same turn of the event loop share one
        transaction (one commit instead of one per notification); the send returns once it is written."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._answers:
            loop.call_soon(self._flush)
        self._answers.append(((apns_id, result.status, result.reason, result.timestamp), done))
        await done

    def _flush(self) -> None:
        answers, self._answers = self._answers, []
        try:
            self.store.mark_done_many([a for a, _ in answers])
        except Exception as exc:  # the rows stay pending: resent after their lease, same apns-id
            for _, done in answers:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in answers:
            if not done.done():
                done.set_result(None)

    def _claim(self, limit: int) -> list[PendingNotification]:
        if not self.senders:  # an API process that does not send claims nothing
            return []
        return self.store.claim(self.name, limit, self.lease_ms, tuple(self.senders))

    async def drain(self) -> int:
        """Send everything claimable now (e.g. what a crashed run left), batch by batch; how many."""
        count = 0
        while batch := self._claim(self.concurrency):
            await asyncio.gather(*(self.send_claimed(p.environment, p.notification) for p in batch))
            count += len(batch)
        if count:
            log.info("resent %d notification(s) left in the outbox", count)
        return count

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and send until ``stop`` is set; then finish the sends in flight."""
        tasks: set[asyncio.Task[dict[str, Any]]] = set()
        renewer = asyncio.get_running_loop().create_task(self._renew(stop))
        try:
            while not stop.is_set():
                free = self.concurrency - len(tasks)
                claimed = self._claim(free) if free > 0 else []
                for p in claimed:
                    tasks.add(asyncio.ensure_future(self.send_claimed(p.environment, p.notification)))
                if claimed and len(claimed) == free:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                elif not claimed:
                    waits: set[Any] = {*tasks, asyncio.ensure_future(stop.wait())}
                    await asyncio.wait(waits, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
                    for extra in waits - tasks:
                        extra.cancel()
                tasks = {t for t in tasks if not t.done()}
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew(self, stop: asyncio.Event) -> None:
        """Keep the leases of sends in flight: a slow answer must not hand the row to another worker. Also
        forgets expired idempotency keys now and then (any worker may; it is one indexed DELETE)."""
        rounds = 0
        while not stop.is_set():
            await asyncio.sleep(self.lease_ms / 3000)
            try:  # one failed round (the database away for a moment) must not end the renewing for good
                self.store.renew(self.name, list(self.inflight), self.lease_ms)
                rounds += 1
                if rounds % 30 == 1:
                    self.store.forget_idempotency_keys()
            except Exception:
                log.exception("could not renew the leases of the sends in flight; trying again")
