"""``manage.py publish_wechat_menu [--dry-run]``: publish the Official Account's menu built from settings."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ihospital.core.errors import DomainError
from ihospital.wechat import menu


class Command(BaseCommand):
    help = "Publish the WeChat Official Account menu (WECHAT_MENU, or the default services menu)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print the menu without sending it.")

    def handle(self, *args, dry_run: bool = False, **options):
        try:
            if dry_run:
                self.stdout.write(json.dumps(menu.build_menu(), ensure_ascii=False, indent=2))
                return
            publication = menu.publish(actor=None)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        if not publication.ok:
            raise CommandError(f"WeChat refused the menu: {publication.error}")
        self.stdout.write(self.style.SUCCESS(f"Menu published ({len(publication.body['button'])} buttons)."))
