"""The sandbox's callbacks really travel over HTTP: a tiny ``http.server`` in a thread stands in for the platform,
receives the signed POST, and, when it answers 500 (or is not there at all), the delivery is retried later."""

from __future__ import annotations

import http.server
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.payments.models import SandboxNotification
from ihospital.payments.providers import sandbox
from tests.payments.flows import task_rows

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on a free loopback port; answers ``status`` and remembers each request."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": "SUCCESS"}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payments/notify/sandbox/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def owe(url: str) -> SandboxNotification:
    return sandbox.queue_notification(sandbox.PAYMENT_SUCCEEDED, {"out_trade_no": "P1", "transaction_id": "SBX1",
                                      "amount_fen": 100, "currency": "CNY", "status": "paid"}, url=url)


def test_a_signed_callback_arrives_over_http(settings):
    with Receiver(200) as receiver:
        notification = owe(receiver.url)
        assert sandbox.deliver(notification.pk) == "delivered"

    ((path, headers, body),) = receiver.requests
    assert path == "/payments/notify/sandbox/"
    assert body == notification.body.encode()
    assert headers["Content-Type"] == "application/json"
    expected = sandbox.signature(timestamp=headers["X-Sandbox-Timestamp"], nonce=headers["X-Sandbox-Nonce"], body=body)
    assert headers["X-Sandbox-Signature"] == expected
    # What arrived is exactly what the platform's own check accepts.
    parsed = sandbox.parse(body=body, headers=headers)
    assert (parsed.event_id, parsed.kind, parsed.status, parsed.amount_fen) == (notification.event_id, "payment",
                                                                               "succeeded", 100)
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.last_status) == ("delivered", 1, 200)


def test_a_500_answer_schedules_a_retry_with_the_same_event_and_a_fresh_signature(settings):
    settings.PAYMENTS_SANDBOX_RETRY_SECONDS = ["7", "60"]
    with Receiver(500) as receiver:
        notification = owe(receiver.url)
        before = timezone.now()
        assert sandbox.deliver(notification.pk) == "retry"
        notification.refresh_from_db()
        assert (notification.state, notification.attempts, notification.last_status) == ("pending", 1, 500)
        (row,) = task_rows(task_path__endswith="deliver_sandbox_notification")
        assert row.args_kwargs["args"] == [notification.pk]
        assert before + timedelta(seconds=7) <= row.run_after <= timezone.now() + timedelta(seconds=7)

        receiver.status = 200
        assert sandbox.deliver(notification.pk) == "delivered"

    (_, first, body1), (_, second, body2) = receiver.requests
    assert body1 == body2  # the same notification, the same event id
    assert first["X-Sandbox-Nonce"] != second["X-Sandbox-Nonce"]
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == ("delivered", 2)
    assert sandbox.deliver(notification.pk) == "skipped"


def test_nobody_listening_is_retried_and_then_given_up(settings):
    settings.PAYMENTS_SANDBOX_RETRY_SECONDS = ["1"]
    with Receiver() as receiver:
        url = receiver.url  # the port is closed once the server stops
    notification = owe(url)
    assert sandbox.deliver(notification.pk) == "retry"
    notification.refresh_from_db()
    assert notification.last_error.startswith(("URLError", "ConnectionRefusedError"))
    assert sandbox.deliver(notification.pk) == "gave_up"
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == ("gave_up", 2)
