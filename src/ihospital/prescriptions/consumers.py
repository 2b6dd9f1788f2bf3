"""Live worklists: ``ws/prescriptions/live/`` tells an open page that its list changed.

The socket joins the groups of what the user may see (see ``realtime``): a pharmacist the review worklist, a
doctor their own prescriptions and their departments' refill requests, a patient or proxy the medicines of the
patients they act for. Server → client: ``{"type": "changed", "what": "prescription"|"refill", "id", "status"}``;
the page then re-reads its list over HTTP through its scoped selector, so no health data travels on the socket.
"""

from __future__ import annotations

from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core.live import GroupsConsumer

from . import realtime
from .selectors import practitioner_of


def groups_for(user) -> list[str]:
    if user.role == Role.PHARMACIST:
        return [realtime.PHARMACY]
    if user.role == Role.DOCTOR:
        practitioner = practitioner_of(user)
        departments = [d.pk for d in practitioner.departments.all()] if practitioner else []
        return [realtime.doctor_group(user.pk)] + [realtime.department_group(d) for d in departments]
    if user.role == Role.PATIENT:
        return [realtime.patient_group(pk) for pk in patients_acted_for(user).values_list("pk", flat=True)]
    return []


class LiveConsumer(GroupsConsumer):
    def groups_for(self, user) -> list[str]:
        return groups_for(user)

    async def rx_changed(self, event):
        await self.send_json({"type": "changed", "what": event["what"], "id": event["id"], "status": event["status"]})
