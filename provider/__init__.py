"""The real APNs provider: HTTP/2 client (``provider.apns``), token registry and outbox (``provider.store``),
HTTP service (``provider.web``) and the ``apns-provider`` CLI (``provider.cli``).

It imports nothing from ``apns_sim``, ``device_sim`` or ``scenarios`` (docs/architecture.md): against Apple or
the simulator, only host, port and trust differ.
"""
