"""What does a provider's callback cost, first time and when it is delivered again?

Providers deliver every notification at least once, and retry; the platform must verify the signature, store
the event once, and settle the charge in one transaction (docs/payments.md). This posts signed sandbox
``payment.succeeded`` notifications to ``/payments/notify/sandbox/`` through the whole stack (middleware, the
view, signature check, idempotent event insert, the charge's conditional transition, audit rows, the
workflow's handler), then the very same notifications again (duplicates: answered "already processed"), and a
forged one (refused at the signature). Baseline, in the same run: ``GET /healthz`` through the same client, the
stack's fixed cost.

Run: ``.venv/bin/python bench/payment_callbacks.py`` (SQLite) or with DATABASE_URL=postgres://... (PostgreSQL).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta

import _django

_django.setup()

from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from ihospital.accounts.models import User  # noqa: E402
from ihospital.payments import handlers, services  # noqa: E402
from ihospital.payments.models import Charge  # noqa: E402
from ihospital.payments.providers import sandbox  # noqa: E402

N = 200
URL = "/payments/notify/sandbox/"


def body_for(payment) -> bytes:
    return json.dumps({
        "id": "EVT" + secrets.token_hex(16).upper(), "event_type": "payment.succeeded",
        "created_at": timezone.now().isoformat(timespec="seconds"),
        "data": {"out_trade_no": payment.out_trade_no, "transaction_id": "T" + secrets.token_hex(8),
                 "amount_fen": payment.amount_fen, "currency": "CNY", "status": "paid"},
    }, separators=(",", ":")).encode()


def timed_posts(client: Client, bodies: list[bytes], expect: int) -> list[float]:
    out = []
    for body in bodies:
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in sandbox.signed_headers(body).items()}
        start = time.perf_counter()
        response = client.post(URL, data=body, content_type="application/json", **headers)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == expect, response.content
    return out


def main() -> None:
    handlers.register("bench", on_paid=lambda charge: True)
    sandbox.post = lambda url, body, headers: 200  # the sandbox's own deliveries are not what is measured
    payer = User.objects.create_user("bench-payer", "x", real_name="测试", phone="+8613800000000")
    payments = []
    for n in range(N):
        charge = services.create_charge(reference=f"bench:{n}", amount_fen=1000 + n, subject="bench", payer=payer,
                                        expires_at=timezone.now() + timedelta(hours=1))
        payment, _url = services.start_payment(actor=payer, charge_id=charge.pk)
        payments.append(payment)
    bodies = [body_for(p) for p in payments]
    client = Client()
    for _ in range(30):
        client.get("/healthz")
    base = _django.percentiles([_timed_get(client) for _ in range(N)])
    first = _django.percentiles(timed_posts(client, bodies, 200))
    assert Charge.objects.filter(reference__startswith="bench:", status="paid").count() == N
    again = _django.percentiles(timed_posts(client, bodies, 200))
    assert Charge.objects.filter(reference__startswith="bench:", status="paid").count() == N
    forged = []
    for body in bodies[:50]:
        start = time.perf_counter()
        response = client.post(URL, data=body, content_type="application/json", HTTP_X_SANDBOX_TIMESTAMP="1",
                               HTTP_X_SANDBOX_NONCE="n", HTTP_X_SANDBOX_SIGNATURE="0" * 64)
        forged.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 403
    forged_stats = _django.percentiles(forged)
    print(f"{N} charges, each paid by one callback, then the same {N} callbacks again; 50 forged")
    print(f"baseline GET /healthz    : {_django.fmt(base)}")
    print(f"first delivery (settles) : {_django.fmt(first)}")
    print(f"duplicate delivery       : {_django.fmt(again)}")
    print(f"forged (403)             : {_django.fmt(forged_stats)}")
    print(f"payment_callbacks: first p50 {first['p50']:.2f} ms ({first['p50'] / base['p50']:.1f}x healthz), "
          f"p95 {first['p95']:.2f} ms; duplicate p50 {again['p50']:.2f} ms ({again['p50'] / base['p50']:.1f}x); "
          f"forged p50 {forged_stats['p50']:.2f} ms; healthz p50 {base['p50']:.2f} ms")


def _timed_get(client: Client) -> float:
    start = time.perf_counter()
    client.get("/healthz")
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
