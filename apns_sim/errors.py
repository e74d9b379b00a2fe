"""The root of apns_sim's exceptions.

Every error the simulator raises on purpose derives from :class:`SimError`, so a caller can catch the
simulator's refusals in one ``except``. Classes that callers already catch as ``ValueError`` (a malformed
request, a bad fault rule, console or ``.apns`` input, an activation request) keep that base as well.

The courier codec's errors (``apns_sim.courier``) stand apart on purpose: the codec is shared with the
simulated phones and imports nothing else of ours.
"""

from __future__ import annotations


class SimError(Exception):
    """Something the simulator refuses or cannot do, said in words a user can act on."""
