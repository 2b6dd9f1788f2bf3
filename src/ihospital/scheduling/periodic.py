"""Scheduling's periodic jobs (see ``ihospital.core.periodic``)."""

from datetime import timedelta

from ihospital.core import periodic

from .tasks import generate_upcoming_slots

periodic.register("scheduling.generate_upcoming_slots", generate_upcoming_slots, every=timedelta(days=1))
