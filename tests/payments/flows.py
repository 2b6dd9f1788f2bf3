"""Short ways through payments for the tests: charges through the services, payment through the sandbox's checkout
page, and callbacks delivered through Django's test client (the sandbox's ``post`` is replaced by ``deliver``).

Every act runs its on-commit callbacks (tasks are enqueued as in production); ``settle()`` then plays the task
worker: it runs the payments tasks that are due, in order, until none is left.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db.models import Q
from django.test import Client
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from ihospital.payments import services
from ihospital.payments.models import Charge, Payment
from ihospital.payments.providers import sandbox

KIND = "testorder"
NOTIFY_PATH = "/payments/notify/sandbox/"


@dataclass
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]
    status: int


@dataclass
class Recorder:
    """A workflow's handler: remembers what it heard; ``wanted`` is what on_paid answers."""

    wanted: bool = True
    paid: list[int] = field(default_factory=list)
    refunded: list[tuple[int, int]] = field(default_factory=list)

    def on_paid(self, charge) -> bool:
        self.paid.append(charge.pk)
        return self.wanted

    def on_refunded(self, refund) -> None:
        self.refunded.append((refund.charge_id, refund.amount_fen))


def task_rows(**filters):
    return DBTaskResult.objects.filter(task_path__startswith="ihospital.payments.", **filters)


class Flow:
    def __init__(self, capture):
        self.capture = capture
        self.deliveries: list[Delivery] = []
        self.notify_client = Client()

    # -- the network, as the sandbox sees it ----------------------------------------------------------------
    def deliver(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        status = self.post_notification(body, headers, path=urlsplit(url).path)
        self.deliveries.append(Delivery(url, body, dict(headers), status))
        return status

    def post_notification(self, body: bytes, headers: dict[str, str], *, path: str = NOTIFY_PATH):
        response = self.notify_client.post(path, data=body, content_type="application/json",
                                           headers={k: v for k, v in headers.items() if k != "Content-Type"})
        self.last_response = response
        return response.status_code

    def notify(self, event_type: str, data: dict, *, event_id: str | None = None, timestamp: int | None = None,
               key: bytes | None = None):
        """A signed sandbox callback posted straight to the platform (what a misbehaving provider could send)."""
        body = json.dumps({"id": event_id or f"EVT-T-{time.monotonic_ns()}", "event_type": event_type,
                           "created_at": timezone.now().isoformat(), "data": data}).encode()
        with self.capture(execute=True):
            self.post_notification(body, sandbox.signed_headers(body, timestamp=timestamp, key=key))
        return self.last_response

    # -- acts -----------------------------------------------------------------------------------------------
    def charge(self, payer, *, amount_fen: int = 10000, reference: str | None = None,
               expires_at: datetime | None = None) -> Charge:
        with self.capture(execute=True):
            return services.create_charge(
                reference=reference or f"{KIND}:{time.monotonic_ns()}", amount_fen=amount_fen, subject="药品订单",
                payer=payer, expires_at=expires_at or timezone.now() + timedelta(minutes=30),
            )

    def start(self, charge: Charge, actor=None, **kw) -> tuple[Payment, str]:
        with self.capture(execute=True):
            return services.start_payment(actor=actor or charge.payer, charge_id=charge.pk, **kw)

    def checkout(self, url: str, user, action: str = "pay"):
        browser = Client()
        browser.force_login(user)
        with self.capture(execute=True):
            return browser.post(url, {"action": action})

    def cancel(self, charge: Charge, reason: str = "order cancelled") -> Charge:
        with self.capture(execute=True):
            return services.cancel_charge(charge_id=charge.pk, reason=reason)

    def refund(self, charge: Charge, amount_fen: int | None = None, reason: str = "order cancelled", actor=None):
        with self.capture(execute=True):
            return services.refund(actor=actor, charge_id=charge.pk, amount_fen=amount_fen, reason=reason)

    def settle(self, *, until: datetime | None = None, limit: int = 100) -> list[str]:
        """Run the payments tasks due by ``until`` (default now), one by one, until none is left."""
        ran = []
        for _ in range(limit):
            due = until or timezone.now()
            row = (task_rows(status=TaskResultStatus.READY)
                   .filter(Q(run_after__lte=due) | Q(run_after=get_date_max()))
                   .order_by("run_after", "enqueued_at").first())
            if row is None:
                return ran
            row.claim("tests")
            with self.capture(execute=True):
                value = row.task.call(*row.task_result.args, **row.task_result.kwargs)
            row.set_successful(value)
            ran.append(f"{row.task_path.rsplit('.', 1)[-1]}:{value}")
        raise AssertionError(f"tasks keep coming: {ran[-10:]}")

    def pay(self, charge: Charge) -> Payment:
        """The payer pays through the sandbox page; the callback arrives; the charge is paid."""
        payment, url = self.start(charge)
        assert self.checkout(url, charge.payer).status_code == 302
        self.settle()
        payment.refresh_from_db()
        charge.refresh_from_db()
        return payment
