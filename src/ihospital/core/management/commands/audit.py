from django.core.management.base import BaseCommand, CommandError

from ihospital.core.audit import verify_chain


class Command(BaseCommand):
    help = "Audit log tools. 'verify' walks the hash chain and reports the first broken row."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, **options):
        report = verify_chain()
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} rows verified"))
            return
        where = f"seq {report.broken_seq}" + (f" (id {report.broken_id})" if report.broken_id else "")
        raise CommandError(f"audit chain broken at {where}: {report.reason}; {report.checked} rows before it OK")
