"""Home nursing's live socket ``ws/homecare/live/``: tells an open page that something it shows changed, and the
security console (and the dispatchers) that a nurse raised an alarm.

On connect the socket joins the groups of what the user may see (see ``realtime``):

* patient or proxy → ``hc.patient.<pid>`` for each patient they act for;
* nurse → ``hc.nurse.<uid>``, and ``hc.assess`` when they are a home-care nurse (``selectors.is_home_nurse``);
* dispatcher → ``hc.dispatch`` (alarms are sent to this group too: dispatchers know where every nurse is);
* security and admin → ``hc.security``.

Server → client: ``{"type": "hello", "groups": n}``; ``{"type": "changed", "what", "id", "status"}`` (no health
data: the page re-reads through its scoped view); ``{"type": "alarm", ...safety.payload}`` only to security,
admin and dispatchers; ``{"type": "pong"}`` for ``{"type": "ping"}``. Anonymous, or staff without the second
factor: closed with 4401.
"""

from __future__ import annotations

from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core.live import GroupsConsumer

from . import realtime
from .selectors import is_home_nurse

# Who may receive an alarm's payload (the nurse's name and position, the patient's address). Checked again when
# each alarm is forwarded, so a group joined by mistake still never leaks an alarm to a patient or a nurse.
ALARM_ROLES = frozenset({Role.SECURITY, Role.ADMIN, Role.DISPATCHER})


def groups_for(user) -> list[str]:
    if user.role == Role.PATIENT:
        return [realtime.patient_group(pk) for pk in patients_acted_for(user).values_list("pk", flat=True)]
    if user.role == Role.NURSE:
        return [realtime.nurse_group(user.pk)] + ([realtime.ASSESS] if is_home_nurse(user) else [])
    if user.role == Role.DISPATCHER:
        return [realtime.DISPATCH]
    if user.role in (Role.SECURITY, Role.ADMIN):
        return [realtime.SECURITY]
    return []


class LiveConsumer(GroupsConsumer):
    def groups_for(self, user) -> list[str]:
        self.sees_alarms = user.role in ALARM_ROLES
        return groups_for(user)

    async def hc_changed(self, event):
        await self.send_json({"type": "changed", "what": event["what"], "id": event["id"], "status": event["status"]})

    async def hc_alarm(self, event):
        if not getattr(self, "sees_alarms", False):
            return
        await self.send_json({**event, "type": "alarm"})
