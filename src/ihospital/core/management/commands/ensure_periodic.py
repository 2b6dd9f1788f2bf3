from django.core.management.base import BaseCommand
from django_tasks_db.backend import DatabaseBackend

from ihospital.core import periodic


class Command(BaseCommand):
    help = ("Enqueue a run, due now, of every registered periodic job that has none pending "
            "(idempotent; 'ihospital serve' runs it after migrating).")

    def handle(self, *args, **options):
        if not isinstance(periodic.run_periodic.get_backend(), DatabaseBackend):
            self.stdout.write("periodic jobs need the database task backend: nothing enqueued")
            return
        enqueued = periodic.ensure_all()
        for name, job in sorted(periodic.jobs().items()):
            state = "enqueued" if name in enqueued else "already pending"
            self.stdout.write(f"{name} (every {job.every}): {state}")
