"""The phone's courier link to APNs (an asyncio adapter): the TLS context and the persistent client. Under
phone/ and fleet/, which both use it; it imports identity/ and the wire codec, never app/."""
