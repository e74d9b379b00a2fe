"""Stage 1: the HTTP/2 API that providers push to. ``connection`` (sans-IO HTTP/2), ``hpack_cache``,
``service`` (per-connection authentication and request handling, synchronous) and ``intake`` (one accepted or
rejected request becomes a journey) are core; ``listener`` is the asyncio/TLS adapter."""
