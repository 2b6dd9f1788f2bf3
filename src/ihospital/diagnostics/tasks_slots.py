"""Background work of exam booking: keeping slots two weeks ahead, and the evening-before reminder."""

from __future__ import annotations

from django_tasks import task


@task()
def keep_slots_ahead() -> int:
    """Slots for the next 14 days on every active resource (idempotent; run daily)."""
    from .slots import keep_ahead

    return keep_ahead()


@task()
def send_reminder(order_id: int, slot_id: int) -> str:
    """The evening before the exam: remind the patient and relatives, with the preparation instructions."""
    from .booking import remind

    return "sent" if remind(order_id=order_id, slot_id=slot_id) else "skipped"
