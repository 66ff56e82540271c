"""Shared test helper for the serve batcher: read a stream to its end."""

from __future__ import annotations

import asyncio

from rnnkit.serve.batcher import DONE


async def drain(stream, timeout: float = 60.0) -> list:
    """Every item a batcher stream yields before ``DONE`` (each within ``timeout`` s)."""
    items = []
    while (item := await asyncio.wait_for(stream.queue.get(), timeout)) is not DONE:
        items.append(item)
    return items
