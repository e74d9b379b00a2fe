"""``/_sim/faults``: fault injection over HTTP, a thin aiohttp layer over :class:`apns_sim.faults.plan.FaultPlan`.

- ``GET /_sim/faults``: ``{"seed": N, "faults": [rule + "matches", "hits", "retired", "expires_at"]}``.
- ``POST /_sim/faults``: one rule, a list of rules, or ``{"seed": N, "faults": [...]}`` (``{"seed": N}`` alone
  reseeds); all or nothing. Answers ``201 {"ids": [...], "seed": N}``.
- ``DELETE /_sim/faults``: remove every rule (``{"cleared": count}``); ``DELETE /_sim/faults/{id}``: one.

Errors are ``400 {"error": ...}`` with the field to fix (the rule JSON is tabled in :mod:`apns_sim.faults.plan`),
``404`` for an unknown id.
"""

from __future__ import annotations

from aiohttp import web

from apns_sim.admin.guard import read_json
from apns_sim.admin.render import json_answer as _json
from apns_sim.faults.plan import FaultError
from apns_sim.state import SimState


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


def fault_routes(state: SimState) -> web.RouteTableDef:
    """The fault routes for ``state``'s plan, to mount on the admin app with ``app.add_routes(...)``."""
    routes = web.RouteTableDef()
    plan = state.faults

    @routes.get("/_sim/faults")
    async def list_faults(request: web.Request) -> web.Response:
        return _json(plan.to_json())

    @routes.post("/_sim/faults")
    async def add_faults(request: web.Request) -> web.Response:
        body = await read_json(request, "the body must be JSON: a fault rule, a list of rules, or "
                                        '{"seed": N, "faults": [...]} (see GET /_sim/faults for the shape)')
        try:
            ids = plan.load_json(body)
        except FaultError as exc:
            return _error(400, str(exc))
        return _json({"ids": ids, "seed": plan.seed}, status=201)

    @routes.delete("/_sim/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        return _json({"cleared": plan.clear()})

    @routes.delete("/_sim/faults/{fault_id}")
    async def remove_fault(request: web.Request) -> web.Response:
        fault_id = request.match_info["fault_id"]
        if not plan.remove(fault_id):
            known = ", ".join(s.rule.id or "" for s in plan.list()) or "none"
            return _error(404, f"no fault {fault_id!r} (faults now: {known})")
        return _json({"removed": fault_id})

    return routes
