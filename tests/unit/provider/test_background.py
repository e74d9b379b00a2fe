"""The provider service's background sending survives a failed start-up resend (docs/provider-service.md §3)."""

from __future__ import annotations

import asyncio

from provider.web import _after


async def test_the_worker_starts_even_if_the_start_up_resend_failed() -> None:
    """A database error in the start-up resend used to end the background task silently: nothing then picked
    up the rows other processes dropped, while the API kept answering."""
    ran: list[str] = []

    async def resend() -> int:
        raise RuntimeError("database away for a moment")

    async def worker() -> None:
        ran.append("worker")

    await _after(asyncio.ensure_future(resend()), worker())
    assert ran == ["worker"]
