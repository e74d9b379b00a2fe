"""Who the phone is: its state on disk (``store``: device certificate, apps, tokens, settings; no I/O but
files) and its activation with the simulator's CA (``activation``: the one HTTP client, shared by a phone
and a fleet)."""
