"""Create the bookable slots of the exam resources from their opening hours (idempotent).

    manage.py generate_diagnostic_slots            # today and the next 14 days, every active resource
    manage.py generate_diagnostic_slots --days 30 --resource ct-1
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ihospital.core.errors import DomainError
from ihospital.diagnostics.models import Resource
from ihospital.diagnostics.slots import DAYS_AHEAD, generate


class Command(BaseCommand):
    help = "Create the bookable slots of the exam resources from their opening hours."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=DAYS_AHEAD, help="days after today (default 14)")
        parser.add_argument("--resource", action="append", default=[], help="a resource code (repeatable)")

    def handle(self, *args, days: int, resource: list[str], **options):
        if days < 0:
            raise CommandError("--days must not be negative")
        resources = Resource.objects.filter(active=True)
        if resource:
            resources = resources.filter(code__in=resource)
            unknown = set(resource) - set(resources.values_list("code", flat=True))
            if unknown:
                raise CommandError(f"no active resource: {', '.join(sorted(unknown))}")
        today = timezone.localdate()
        total = 0
        for res in resources.order_by("code"):
            try:
                made = generate(res, start=today, days=days + 1)
            except DomainError as exc:
                raise CommandError(f"{res.code}: {exc.message}") from exc
            total += made
            self.stdout.write(f"{res.code}: {made} new slots")
        self.stdout.write(self.style.SUCCESS(f"{total} new slots"))
