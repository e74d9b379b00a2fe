"""Apple's retired binary provider interface and feedback service (docs/legacy-binary.md).

frames (the sans-IO codec), feedback (tuples and the read-once ledger), service (per-connection decisions) and
listener (asyncio + TLS). A layer-5 room beside provider_api and gateway, which it never imports.
"""
