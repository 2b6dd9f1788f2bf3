from django.core.management.base import BaseCommand, CommandError

from ihospital.diagnostics import catalogue


class Command(BaseCommand):
    help = "Load (or refresh) the medical-test catalogue and its resources from data/tests.json and "\
           "data/resources.json, or --tests / --resources."

    def add_arguments(self, parser):
        parser.add_argument("--tests", default=None)
        parser.add_argument("--resources", default=None)

    def handle(self, *args, **options):
        try:
            report = catalogue.load(options["tests"] or catalogue.TESTS, options["resources"] or catalogue.RESOURCES)
        except (catalogue.CatalogueError, OSError, ValueError, KeyError) as error:
            raise CommandError(f"nothing loaded: {error}") from error
        self.stdout.write(f"medical-test catalogue: {report}")
