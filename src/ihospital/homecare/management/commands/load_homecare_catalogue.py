from django.core.management.base import BaseCommand, CommandError

from ihospital.homecare import catalogue


class Command(BaseCommand):
    help = "Load (or refresh) the home-nursing service catalogue from data/services.json or --file."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=None)

    def handle(self, *args, **options):
        try:
            created, updated = catalogue.load(options["file"] or catalogue.DATA)
        except (catalogue.CatalogueError, OSError, ValueError, KeyError) as error:
            raise CommandError(f"nothing loaded: {error}") from error
        self.stdout.write(f"home-nursing catalogue: {created} created, {updated} updated")
