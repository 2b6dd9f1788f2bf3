"""Background work: keep the booking horizon's slots materialised.

``generate_upcoming_slots`` runs daily as a periodic job (``scheduling/periodic.py``; or run
``ihospital generate_slots``); the slot list also generates the days it shows, so nothing breaks when the task has
not run yet.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from . import generation


@task()
def generate_upcoming_slots() -> int:
    return generation.generate_slots(start=timezone.localdate(), days=settings.BOOKING_HORIZON_DAYS)
