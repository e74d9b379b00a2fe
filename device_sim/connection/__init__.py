"""The phone's courier link to APNs (an asyncio adapter): the TLS context and the persistent client."""
