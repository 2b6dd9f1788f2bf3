"""Medical tests' periodic jobs (see ``ihospital.core.periodic``)."""

from datetime import timedelta

from ihospital.core import periodic

from .tasks import release_due_results
from .tasks_slots import keep_slots_ahead

periodic.register("diagnostics.keep_slots_ahead", keep_slots_ahead, every=timedelta(days=1))
periodic.register("diagnostics.release_due_results", release_due_results, every=timedelta(hours=1))
