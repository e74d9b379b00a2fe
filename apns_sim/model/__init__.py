"""What the simulator remembers: the virtual clock, portal and device records, the token registry and each
notification's journey. Core: plain synchronous code, no asyncio, no sockets."""
