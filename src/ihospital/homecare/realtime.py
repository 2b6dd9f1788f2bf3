"""What home nursing tells open pages (after the transaction commits) and the people concerned.

Socket groups: ``hc.patient.<patient_id>`` (the patient's and proxies' requests page), ``hc.nurse.<user_id>``
(a nurse's route), ``hc.assess`` (home-care nurses' assessment worklist), ``hc.dispatch`` (the dispatchers' day
board), ``hc.security`` (the security console). Status events carry no health data: the page re-reads through
its scoped selector. Alarms are the exception: security must see who and where at once, so the alarm event
carries the nurse, the place and the service (and its read is audited when the console renders it).
"""

from __future__ import annotations

from ihospital.accounts.selectors import patient_and_relatives
from ihospital.core import live
from ihospital.notifications.services import notify

ASSESS = "hc.assess"
DISPATCH = "hc.dispatch"
SECURITY = "hc.security"


def patient_group(patient_id: int) -> str:
    return f"hc.patient.{patient_id}"


def nurse_group(user_id: int) -> str:
    return f"hc.nurse.{user_id}"


def request_changed(req, *, assessors: bool = False, dispatch: bool = False, nurses: tuple[int, ...] = ()) -> None:
    groups = [patient_group(req.patient_id), *(nurse_group(n) for n in nurses if n)]
    if assessors:
        groups.append(ASSESS)
    if dispatch:
        groups.append(DISPATCH)
    event = {"type": "hc.changed", "what": "request", "id": req.pk, "status": req.status}
    live.send_on_commit(groups, event)


def alarm_event(alarm, payload: dict) -> None:
    event = {"type": "hc.alarm", **payload}
    live.send_on_commit([SECURITY, DISPATCH], event)


def tell(req, kind: str, title: str, body: str = "") -> None:
    """A notification to the patient and their relatives (a link, never clinical detail)."""
    notify(users=patient_and_relatives(req.patient), kind=f"homecare.{kind}", title=title, body=body,
           link=f"/homecare/requests/{req.pk}/", dedupe_key=f"homecare:{req.pk}:{kind}")
