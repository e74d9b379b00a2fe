"""Who the phone is: its state on disk (device certificate, apps, tokens, settings) and its activation with
the simulator's CA."""
