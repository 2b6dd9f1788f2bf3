from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ihospital.scheduling.generation import generate_slots


class Command(BaseCommand):
    help = "Generate bookable slots from the active availability rules (idempotent; safe to run concurrently)."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="first local date, YYYY-MM-DD (default: today)")
        parser.add_argument("--days", type=int, default=None, help="how many days (default: BOOKING_HORIZON_DAYS)")
        parser.add_argument("--practitioner", type=int, default=None, help="only this practitioner's rules (id)")

    def handle(self, *args, **options):
        try:
            start = date.fromisoformat(options["start"]) if options["start"] else timezone.localdate()
        except ValueError:
            raise CommandError("--start must be a date like 2026-12-01") from None
        days = options["days"] if options["days"] is not None else settings.BOOKING_HORIZON_DAYS
        if days < 1:
            raise CommandError("--days must be at least 1")
        created = generate_slots(practitioner_id=options["practitioner"], start=start, days=days)
        self.stdout.write(self.style.SUCCESS(f"{created} slot(s) generated from {start} for {days} day(s)"))
