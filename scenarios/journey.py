"""A notification's journey as a person reads it: the simulator's stage names (the words of the admin API and
of ``apns_sim/model/journeys.py``, kept as they are in JSON) told in the reader's language, joined by arrows."""

from __future__ import annotations

from collections.abc import Iterable

from apns_sim.delivery.store_and_forward import HELD
from apns_sim.model import journeys
from pushsim_i18n import N_, Domain

_ = Domain("scenarios").gettext

# Marked here, translated at use: the language is chosen after import (docs/i18n.md "Writing a message").
STAGES = {
    journeys.ACCEPTED: N_("accepted"),
    journeys.REJECTED: N_("rejected"),
    journeys.STORED: N_("stored"),
    journeys.REPLACED: N_("replaced"),
    journeys.DISCARDED: N_("discarded"),
    journeys.EXPIRED: N_("expired"),
    journeys.DELIVERED: N_("delivered"),
    journeys.ACKNOWLEDGED: N_("acknowledged"),
    journeys.REFUSED: N_("refused by the phone"),
    journeys.HANDED_TO_APP: N_("handed to the app"),
    journeys.PRESENTED: N_("presented"),
    journeys.NOT_PRESENTED: N_("not presented"),
    journeys.NOT_KEPT: N_("not kept"),
    HELD: N_("held for the presenter"),
}


def told(stages: Iterable[str]) -> str:
    """``accepted → stored → expired`` in the reader's language; a stage this table lacks stays as it is."""
    return " → ".join(_(STAGES[stage]) if stage in STAGES else stage for stage in stages)
