"""PushKit's rules on the simulated iPhone: pure code, no I/O (docs/device-side.md §2.7, §6 rule 28, §7).

What Apple documents: a VoIP push has its own token (``pushRegistry(_:didUpdate:for:)``) and the topic
``<bundle id>.voip``; it always goes straight to the app, which the system launches in the background if it
is not running, and it is never displayed. Since the iOS 13 SDK the app must report every VoIP push to
CallKit (``reportNewIncomingCall``) or the system terminates it, and after repeated failures the system
stops delivering VoIP pushes to the app.

Where Apple is silent, these are the simulator's choices ([sim], knobs in :class:`VoipPolicy`):

- When the report is due: by the time the delegate's handler is done, which is the first of: it calls the
  completion handler, it returns (a plain function), its coroutine finishes, or ``report_time_limit``
  seconds pass (a coroutine still running then is cancelled).
- "Repeated failures": ``max_failures`` (default 3) failures over the install, a reported call does not
  reset the count; deleting the app does (the count lives with the installed app).
- A force-quit app is still launched for a VoIP push (§7: "we assume it does not" block them); the launch
  makes it a running background app, so the force-quit state ends, as it would when the user opens it.
- Once VoIP pushes are stopped the phone still acknowledges them to APNs (the app is installed and its
  topic is in the filter) and reports why nothing reached the app.
"""

from __future__ import annotations

from dataclasses import dataclass

VOIP = "voip"  # the apns-push-type, and the courier token request's push type
VOIP_SUFFIX = ".voip"  # apns-protocol.md §2.2
NEVER_DISPLAYED = "VoIP push: handed to the app, never displayed"
DEFAULT_MAX_FAILURES = 3  # [sim] Apple does not publish how many failures stop VoIP pushes
DEFAULT_REPORT_TIME_LIMIT = 5.0  # [sim] seconds an async handler has to report the call


def voip_topic(bundle_id: str) -> str:
    """The topic of the app's VoIP pushes, listed in the phone's filter and named by its token request."""
    return bundle_id + VOIP_SUFFIX


@dataclass(frozen=True, kw_only=True)
class VoipPolicy:
    """The system's PushKit knobs (phone-wide): how many failures to report a call stop VoIP pushes to an
    app, and how long an async handler may run before its report is judged."""

    max_failures: int = DEFAULT_MAX_FAILURES
    report_time_limit: float = DEFAULT_REPORT_TIME_LIMIT

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.report_time_limit <= 0:
            raise ValueError("report_time_limit must be a positive number of seconds")

    def accepts(self, failures: int) -> bool:
        """Whether VoIP pushes still reach an app that failed ``failures`` times."""
        return failures < self.max_failures

    def stopped_why(self, failures: int) -> str:
        return (f"VoIP pushes to this app stopped: it failed {failures} times to report a call to CallKit "
                "(reinstall the app to receive them again)")

    def decide(self, failures: int, *, reported: bool, handled: bool = True) -> VoipOutcome:
        """The outcome of one VoIP push the app was handed: ``reported`` a call, or failed (terminated)."""
        if reported:
            return VoipOutcome(failures=failures, terminated=False, stopped=False,
                               why=NEVER_DISPLAYED + "; the app reported a call to CallKit")
        count = failures + 1
        what = "reported no call to CallKit" if handled else "has no PushKit delegate to take it"
        why = (f"{NEVER_DISPLAYED}; the app {what}, so the system terminated it "
               f"(failure {count} of {self.max_failures})")
        stopped = not self.accepts(count)
        if stopped:
            why += "; VoIP pushes to this app stop now"
        return VoipOutcome(failures=count, terminated=True, stopped=stopped, why=why)


DEFAULT_POLICY = VoipPolicy()


@dataclass(frozen=True, kw_only=True)
class VoipOutcome:
    """What the system does after the app handled a VoIP push (rule 28)."""

    failures: int  # the app's failure count after this push
    terminated: bool  # the system terminates the app (no call reported)
    stopped: bool  # this failure was the last one allowed: later VoIP pushes do not reach the app
    why: str  # the journey's not_presented reason


@dataclass(frozen=True, kw_only=True)
class IncomingCall:
    """A call the app reported to CallKit (``CXProvider.reportNewIncomingCall``); the system shows its
    incoming-call screen, which is the call, not the push, being displayed."""

    uuid: str
    handle: str
    has_video: bool
    apns_id: str | None  # the VoIP push it answers, None if no push was waiting for a report
    reported_at: float


__all__ = ["DEFAULT_POLICY", "NEVER_DISPLAYED", "VOIP", "VOIP_SUFFIX", "IncomingCall", "VoipOutcome", "VoipPolicy",
           "voip_topic"]
