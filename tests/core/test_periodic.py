"""Periodic jobs: the apps' declarations, ``ensure_periodic`` (one pending run per job, however often it runs), and
the wrapper that queues the next run ``every`` later, also when the job raised."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from ihospital.core import periodic

pytestmark = pytest.mark.django_db

calls: list[str] = []


def _ok() -> str:
    calls.append("ok")
    return "done"


def _boom() -> None:
    calls.append("boom")
    raise RuntimeError("the job failed")


@pytest.fixture
def only(monkeypatch):
    """Run with just the jobs given (the apps' own jobs are put back afterwards)."""

    def install(**jobs):
        monkeypatch.setattr(periodic, "_jobs", {})
        calls.clear()
        for name, (target, every) in jobs.items():
            periodic.register(name, target, every=every)

    return install


def runs(name: str) -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=periodic.run_periodic.module_path, args_kwargs__args=[name])
                .order_by("enqueued_at"))


def test_the_apps_declare_their_jobs():
    jobs = periodic.jobs()

    assert jobs["diagnostics.keep_slots_ahead"].every == timedelta(days=1)
    assert jobs["diagnostics.release_due_results"].every == timedelta(hours=1)
    assert jobs["scheduling.generate_upcoming_slots"].every == timedelta(days=1)
    release = jobs["diagnostics.release_due_results"].target
    assert release.module_path == "ihospital.diagnostics.tasks.release_due_results"


def test_ensure_periodic_twice_enqueues_each_job_once():
    names = sorted(periodic.jobs())
    out = StringIO()

    call_command("ensure_periodic", stdout=out)
    call_command("ensure_periodic", stdout=StringIO())

    for name in names:
        [run] = runs(name)
        assert run.status == TaskResultStatus.READY
    assert "diagnostics.release_due_results (every 1:00:00): enqueued" in out.getvalue()
    assert DBTaskResult.objects.filter(task_path=periodic.run_periodic.module_path).count() == len(names)


def test_running_a_job_calls_it_and_enqueues_the_next_run_at_now_plus_interval(only):
    only(**{"test.ok": (_ok, timedelta(hours=1))})
    periodic.ensure_all()
    [first] = runs("test.ok")
    first.claim("worker-1")  # what the worker does before running it: RUNNING, not pending any more
    before = timezone.now()

    assert periodic.run_periodic.call("test.ok") == "done"

    assert calls == ["ok"]
    pending = [r for r in runs("test.ok") if r.status == TaskResultStatus.READY]
    assert len(pending) == 1
    assert before + timedelta(hours=1) <= pending[0].run_after <= timezone.now() + timedelta(hours=1)
    assert periodic.ensure_all() == []  # the next run is the pending one


def test_a_job_that_raises_still_gets_its_next_run(only):
    only(**{"test.boom": (_boom, timedelta(minutes=5))})

    with pytest.raises(RuntimeError, match="the job failed"):
        periodic.run_periodic.call("test.boom")

    [pending] = runs("test.boom")
    assert calls == ["boom"] and pending.status == TaskResultStatus.READY
    assert pending.run_after > timezone.now() + timedelta(minutes=4)


def test_a_task_target_is_called_in_the_run(only, monkeypatch):
    from ihospital.diagnostics import tasks

    monkeypatch.setattr("ihospital.diagnostics.results.release_due", lambda **kw: ["a", "b"])
    only(**{"test.task": (tasks.release_due_results, timedelta(hours=1))})

    assert periodic.run_periodic.call("test.task") == 2
    assert len(runs("test.task")) == 1


def test_a_job_no_longer_registered_is_dropped(only):
    only()

    assert periodic.run_periodic.call("gone") is None
    assert runs("gone") == []


def test_register_refuses_a_useless_declaration():
    with pytest.raises(ValueError):
        periodic.register("x", _ok, every=timedelta(0))
    with pytest.raises(TypeError):
        periodic.register("x", "not callable", every=timedelta(hours=1))
    assert "x" not in periodic.jobs()
