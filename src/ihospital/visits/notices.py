"""What the patient's side hears of a visit outside its room: notifications to the patient and their relatives.

Each is rendered in the recipient's own language (the doctor acting may use another one). ``notify`` stores them at
once and sends them after the commit; the outside channels carry only the registered kind's neutral text
(``notifications.events``), so the titles may name the doctor but never carry what was written.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from ihospital.accounts.selectors import patient_and_relatives
from ihospital.notifications.services import notifications_for, notify

from .models import Message, ReadMark, Visit

ACCEPTED = "visit.accepted"
REPLIED = "visit.replied"


def room_link(visit: Visit) -> str:
    return f"/visits/{visit.pk}/"


def _language(user) -> str:
    return getattr(user, "language", None) or settings.LANGUAGE_CODE


def visit_accepted(visit: Visit) -> None:
    """The doctor accepted the visit (or took it from the queue with its diagnosis already accepted)."""
    starts = visit.appointment.slot.starts_at if visit.appointment_id else None
    for user in patient_and_relatives(visit.patient):
        with translation.override(_language(user)):
            if starts is not None:
                title = gettext("Your online visit on %(time)s was accepted") % {
                    "time": f"{timezone.localtime(starts):%Y-%m-%d %H:%M}"}
            else:
                title = gettext("Your online visit was accepted")
            body = gettext("Open the visit to write to the doctor.")
        notify(users=[user], kind=ACCEPTED, title=title, body=body, link=room_link(visit),
               dedupe_key=f"visit:{visit.pk}:accepted")


def _still_told(user, visit: Visit, link: str) -> bool:
    """Whether the user has an unread "replied" notification of this visit that is newer than their last reading
    of its chat: they have been told and have not looked since, so another reply adds nothing to tell."""
    unread = notifications_for(user, unread_only=True).filter(kind=REPLIED, link=link)
    read_mark = ReadMark.objects.filter(visit=visit, user=user).values_list("updated_at", flat=True).first()
    if read_mark is not None:
        unread = unread.filter(created_at__gt=read_mark)
    return unread.exists()


def doctor_replied(message: Message) -> None:
    """The doctor wrote in the visit. At most one unread "replied" notification per visit and person: nobody is
    told again until they have read the chat or the notification. The title never quotes the message."""
    visit = message.visit
    link = room_link(visit)
    name = message.sender.real_name if message.sender_id else ""
    for user in patient_and_relatives(visit.patient):
        if _still_told(user, visit, link):
            continue
        with translation.override(_language(user)):
            title = gettext("Dr %(name)s replied in your online visit") % {"name": name}
            body = gettext("Open the visit to read the reply.")
        notify(users=[user], kind=REPLIED, title=title, body=body, link=link,
               dedupe_key=f"visit:{visit.pk}:replied:{message.pk}")
