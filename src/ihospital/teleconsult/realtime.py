"""What consultation tells open pages (after the transaction commits) and the people concerned.

Socket groups (joined by ``consumers.LiveConsumer`` on ``ws/teleconsult/live/``): ``tc.board`` (coordinators'
and admins' board), ``tc.user.<user_id>`` (a referring doctor's or expert's pages), ``tc.patient.<patient_id>``
(the patient's and proxies' pages). Events say only which request changed and its status: the page re-reads
through its scoped selector. Notifications carry a link, never clinical detail.
"""

from __future__ import annotations

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.core import live
from ihospital.notifications.services import notify

BOARD = "tc.board"


def user_group(user_id: int) -> str:
    return f"tc.user.{user_id}"


def patient_group(patient_id: int) -> str:
    return f"tc.patient.{patient_id}"


def request_changed(request, *, what: str = "request") -> None:
    """Every open page that shows this request re-reads it: the board, the referrer, its active experts, the
    patient's side."""
    experts = request.assignments.filter(ended_at__isnull=True).values_list("expert_id", flat=True)
    groups = [BOARD, user_group(request.referring_doctor_id), patient_group(request.patient_id),
              *(user_group(e) for e in experts)]
    live.send_on_commit(groups, {"type": "tc.changed", "what": what, "id": request.pk, "status": request.status})


def link(request) -> str:
    return f"/teleconsult/requests/{request.pk}/"


def tell_users(request, users, kind: str, title: str, body: str = "") -> None:
    notify(users=users, kind=f"teleconsult.{kind}", title=title, body=body, link=link(request),
           dedupe_key=f"teleconsult:{request.pk}:{kind}")


def tell_patient(request, kind: str, title: str, body: str = "") -> None:
    tell_users(request, patient_and_relatives(request.patient), kind, title, body)


def coordinators():
    return User.objects.filter(role=Role.COORDINATOR, is_active=True)


def admins():
    return User.objects.filter(role=Role.ADMIN, is_active=True)
