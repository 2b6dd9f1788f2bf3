"""Load the demo story of the seed (idempotent) and print one login per role. Refuses in production."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ihospital.web.demo import story


class Command(BaseCommand):
    help = "Create the demo hospital, staff and patients (safe to run twice) and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="load without printing the logins")

    def handle(self, *args, quiet=False, **options):
        if not settings.DEMO_ENABLED:
            raise CommandError("Demo data is disabled in production (IHOSPITAL_DEPLOYMENT=production).")
        logins = story.load()
        if not quiet:
            self.stdout.write(story.format_logins(logins))
