"""Stage 2's wire to the phones: the courier gateway. ``session`` is the sans-IO courier protocol of one
phone connection; ``listener`` and ``tls_edge`` are the asyncio/TLS adapter; ``activation`` issues device
certificates (the role of Apple's activation server)."""
