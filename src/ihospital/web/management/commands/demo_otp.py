"""Print the current 6-digit code of a demo staff account, for trying the platform without a phone app."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.web.demo.story import DEMO_STAFF


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo staff account (demo deployments only)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--ahead", type=int, default=0, choices=(0, 1),
                            help="1: the code of the next 30-second step (still accepted now; for a second "
                                 "confirmation right after signing in, which may not reuse the same code)")

    def handle(self, *args, username: str, ahead: int = 0, **options):
        if not settings.DEMO_ENABLED:
            raise CommandError("Demo shortcuts are disabled in production.")
        if username not in {s.username for s in DEMO_STAFF}:
            raise CommandError(f"{username} is not a demo staff account")
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        if device is None:
            raise CommandError("run seed_demo first")
        # A code is accepted once (django-otp remembers the last step used): if this step's code was already
        # used (another sign-in of the same account within 30 s), give the next step's, which the device's
        # tolerance accepts now, or wait for the clock to move on.
        def step_now() -> int:
            return int((time.time() - device.t0) // device.step)

        drift = ahead
        while device.last_t >= step_now() + drift:
            if drift < device.tolerance:
                drift += 1
            else:
                time.sleep(device.step - (time.time() - device.t0) % device.step + 0.05)
                drift = ahead
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift)
        self.stdout.write(f"{code:0{device.digits}d}")
