from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ihospital.core.errors import DomainError
from ihospital.prescriptions.formulary import DATA_DIR, load


class Command(BaseCommand):
    help = "Load the formulary, the interaction table and the allergy groups from CSV (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(DATA_DIR),
                            help="folder with drugs.csv, interactions.csv and allergy_groups.csv")
        parser.add_argument("--retire-missing", action="store_true",
                            help="mark drugs that are not in the file as no longer in the formulary")

    def handle(self, *args, **options):
        try:
            report = load(Path(options["dir"]), retire_missing=options["retire_missing"])
        except (DomainError, FileNotFoundError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        self.stdout.write(
            f"formulary: {report.drugs_created} drugs added, {report.drugs_updated} updated, "
            f"{report.drugs_retired} retired; {report.interactions} interactions; {report.groups} allergy groups"
        )
