"""Fixtures of the notification tests: the deliver task played by hand, quiet hours switched off unless a test
sets them, the WeChat simulator (tests/wechat/simfixture.py), a bound patient."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from django.db.models import Q
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from tests.wechat.simfixture import wechat_simulator, wechat_simulator_server  # noqa: F401

DELIVER = "ihospital.notifications.tasks.deliver"


def deliver_rows(until: datetime | None = None):
    due = until or timezone.now()
    return (DBTaskResult.objects.filter(status=TaskResultStatus.READY, task_path=DELIVER)
            .filter(Q(run_after__lte=due) | Q(run_after=get_date_max())).order_by("run_after", "enqueued_at"))


@pytest.fixture
def run_deliveries(django_capture_on_commit_callbacks):
    """Play the worker for the deliver task: run the deliveries due by ``until`` (default now) one by one until none
    is left; answers ["<delivery id>:<result>", ...]."""

    def run(until: datetime | None = None, limit: int = 200) -> list[str]:
        ran = []
        for _ in range(limit):
            row = deliver_rows(until).first()
            if row is None:
                return ran
            row.claim("tests")
            with django_capture_on_commit_callbacks(execute=True):
                value = row.task.call(*row.task_result.args, **row.task_result.kwargs)
            row.set_successful(value)
            ran.append(f"{row.task_result.args[0]}:{value}")
        raise AssertionError(f"deliveries keep coming: {ran[-10:]}")

    return run


@pytest.fixture
def no_quiet_hours(settings):
    settings.NOTIFY_QUIET_HOURS = ""


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """notify() as a workflow calls it, with its after-commit work run."""
    from ihospital.notifications.services import notify

    def _send(users, kind="order.shipped", title="Order RX-1 is on its way", body="", link="/pharmacy/orders/1/",
              **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return notify(users=users, kind=kind, title=title, body=body, link=link, **kw)

    return _send


_names = itertools.count(1)


def bind(user, simulator=None, name: str | None = None) -> str:
    """Bind ``user`` to a (simulated) WeChat identity directly; answers the openid."""
    from django.conf import settings

    from ihospital.wechat.models import Binding

    name = name or f"notify-user-{next(_names)}"
    openid = simulator.identity(name)["openid"] if simulator else f"o-test-{name}"
    Binding.objects.create(user=user, appid=settings.WECHAT_APPID, openid=openid, nickname=name)
    return openid
