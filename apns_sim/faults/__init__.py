"""Scripted failures for tests: fault rules (what to break, when) and the seeded plan that matches them
against each push. Core: no I/O."""
