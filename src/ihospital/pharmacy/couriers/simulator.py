"""The built-in courier: a small express company that runs inside the deployment, as tasks.

It keeps its own books (``SimulatedParcel``) and never touches the platform's tables: booking a parcel plans
its events and schedules a task for each; when an event's time comes, the task marks it as happened on the
courier's side and POSTs a signed tracking callback over HTTP to the address the sender gave when booking
(``<SITE_URL>/pharmacy/courier/notify/simulator/``), as a real courier pushes routes.

Timeline (``COURIER_SIM_STEP_SECONDS`` apart, counted from the booking)::

    1 picked_up          at the hospital pharmacy (origin city)
    2 in_transit         left the origin sorting centre
    3 in_transit         arrived at the delivery station of the recipient's city
    4 out_for_delivery   in the recipient's district
    5 delivered          signed for  — or —  failed, with the reason

Failures are deterministic: a delivery address containing one of ``FAILURE_WORDS`` (``拒收``/``refuse`` →
"the recipient refused the parcel"; ``无人``/``nobody`` → "nobody at home") ends in ``failed`` instead of
``delivered``.

The protocol (docs/pharmacy.md, "Couriers"):

* body: JSON ``{"tracking_no", "events": [{"event_id", "status", "occurred_at", "location", "description"}]}``;
  each event has its own ``event_id`` (``<tracking_no>-<n>``) and ``occurred_at`` (ISO 8601, the courier's
  clock: when the event happened, not when it is sent); a retry re-sends the same event, re-signed;
* headers ``X-Courier-Timestamp`` (Unix seconds), ``X-Courier-Nonce`` (random), ``X-Courier-Signature`` = hex
  HMAC-SHA256 with key ``COURIER_SIM_SECRET`` over ``timestamp + "\\n" + nonce + "\\n" + body + "\\n"``;
* the receiver answers 2xx (``{"ok": true}``) once it has the events; anything else, or no answer, is retried
  after ``RETRY_DELAYS`` (5 s, 15 s, 1 min, 5 min, 15 min, 1 h), then given up;
* a timestamp more than five minutes away from the receiver's clock, or a nonce seen before, is refused.

``post(url, body, headers)`` is the one function that touches the network; tests replace it.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tasks import task

from ihospital.core import callbacks

from .base import BadSignature, Courier, CourierError, TrackingUpdate
from .models import SimulatedParcel

logger = logging.getLogger(__name__)

NAME = "simulator"
TIMESTAMP_HEADER = "X-Courier-Timestamp"
NONCE_HEADER = "X-Courier-Nonce"
SIGNATURE_HEADER = "X-Courier-Signature"
MAX_CALLBACK_AGE_SECONDS = 300
POST_TIMEOUT_SECONDS = 10
# Seconds before the 1st, 2nd, … re-delivery of a callback that was not acknowledged; then the courier gives up.
RETRY_DELAYS = (5, 15, 60, 300, 900, 3600)

# Words in the delivery address that make the last attempt fail, and the reason the courier reports.
REFUSED = gettext_noop("Delivery failed: the recipient refused the parcel")
NOBODY_HOME = gettext_noop("Delivery failed: nobody at home, the parcel goes back to the sender")
FAILURE_WORDS = (("拒收", REFUSED), ("refuse", REFUSED), ("无人", NOBODY_HOME), ("nobody", NOBODY_HOME))
# The statuses a callback may carry (created and cancelled are the sender's business, not tracking events).
EVENT_STATUSES = ("picked_up", "in_transit", "out_for_delivery", "delivered", "failed")
PROGRESS = {"created": 0, "picked_up": 1, "in_transit": 2, "out_for_delivery": 3, "delivered": 9, "failed": 9,
            "cancelled": 9}


# ---- signing ---------------------------------------------------------------------------------------------------


def secret() -> bytes:
    return settings.COURIER_SIM_SECRET.encode()


def signature(*, timestamp: str, nonce: str, body: bytes, key: bytes | None = None) -> str:
    return callbacks.signature(key=key if key is not None else secret(), timestamp=timestamp, nonce=nonce, body=body)


def signed_headers(body: bytes, *, timestamp: int | None = None, nonce: str | None = None,
                   key: bytes | None = None) -> dict[str, str]:
    return callbacks.signed_headers(body, key=key if key is not None else secret(), timestamp=timestamp,
                                    nonce=nonce, names=(TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))


def notify_url() -> str:
    site = getattr(settings, "SITE_URL", "http://127.0.0.1:8000")
    return site.rstrip("/") + reverse("pharmacy:courier_notify", args=[NAME])


# ---- the network -----------------------------------------------------------------------------------------------


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url``; answer the HTTP status. A connection failure raises ``OSError``."""
    return callbacks.http_post(url, body, headers, timeout=POST_TIMEOUT_SECONDS)


# ---- the courier's side: planning and running a parcel's events ------------------------------------------------


def failure_reason(address: str) -> str:
    """The (untranslated) reason the last attempt fails for this address, or "" when it is delivered."""
    lowered = address.lower()
    for word, reason in FAILURE_WORDS:
        if word in lowered:
            return reason
    return ""


def plan_events(*, tracking_no: str, start: datetime, service: str, city: str, district: str,
                address: str) -> list[dict]:
    """The parcel's events, ``COURIER_SIM_STEP_SECONDS`` apart from ``start``, in the deployment's language."""
    step = timedelta(seconds=settings.COURIER_SIM_STEP_SECONDS)
    with translation.override(settings.LANGUAGE_CODE):
        origin = getattr(settings, "COURIER_SIM_ORIGIN_CITY", "") or _("Taiyuan")
        city = city or _("the destination city")
        cold = service == "cold_chain"
        reason = failure_reason(address)
        steps = [
            ("picked_up", origin,
             _("Picked up at the hospital pharmacy in a cold-chain box (2–8 °C)") if cold
             else _("Picked up at the hospital pharmacy")),
            ("in_transit", _("%(city)s sorting centre") % {"city": origin},
             _("Left the %(city)s sorting centre") % {"city": origin}),
            ("in_transit", city, _("Arrived at the %(city)s delivery station") % {"city": city}),
            ("out_for_delivery", f"{city}{district}", _("Out for delivery; the courier will call before coming")),
            ("failed", f"{city}{district}", _(reason)) if reason
            else ("delivered", f"{city}{district}", _("Delivered and signed for by the recipient")),
        ]
    return [
        {"n": n, "event_id": f"{tracking_no}-{n}", "status": status, "due": (start + step * n).isoformat(),
         "location": location, "description": description, "happened": False, "acknowledged": False,
         "attempts": 0}
        for n, (status, location, description) in enumerate(steps, start=1)
    ]


def _new_tracking_no() -> str:
    return f"SIM{timezone.localdate():%Y%m%d}{secrets.randbelow(10**8):08d}"


def callback_body(parcel: SimulatedParcel, event: dict) -> bytes:
    payload = {
        "tracking_no": parcel.tracking_no,
        "events": [{"event_id": event["event_id"], "status": event["status"], "occurred_at": event["due"],
                    "location": event["location"], "description": event["description"]}],
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@task()
def run_event(tracking_no: str, n: int, attempt: int = 0) -> str:
    """Event ``n`` of a parcel happens (once) on the courier's side; then its callback is sent, and re-sent on
    failure after ``RETRY_DELAYS[attempt]``."""
    with transaction.atomic():
        parcel = SimulatedParcel.objects.select_for_update().filter(tracking_no=tracking_no).first()
        if parcel is None or not 1 <= n <= len(parcel.plan):
            return "unknown"
        if parcel.status == "cancelled":
            return "cancelled"
        event = parcel.plan[n - 1]
        if event["acknowledged"]:
            return "already acknowledged"
        if not event["happened"]:
            event["happened"] = True
            if PROGRESS[event["status"]] > PROGRESS[parcel.status]:
                parcel.status = event["status"]
        event["attempts"] += 1
        parcel.save(update_fields=["plan", "status"])
    body = callback_body(parcel, event)
    try:
        status = post(parcel.callback_url, body, signed_headers(body))
    except OSError as exc:
        status, error = 0, str(exc)
    else:
        error = f"HTTP {status}"
    if 200 <= status < 300:
        with transaction.atomic():
            parcel = SimulatedParcel.objects.select_for_update().get(pk=parcel.pk)
            parcel.plan[n - 1]["acknowledged"] = True
            parcel.save(update_fields=["plan"])
        return "acknowledged"
    if attempt >= len(RETRY_DELAYS):
        logger.warning("courier simulator: gave up on %s event %s after %s attempts (%s)", tracking_no, n,
                       attempt + 1, error)
        return f"gave up ({error})"
    delay = RETRY_DELAYS[attempt]
    run_event.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(tracking_no, n, attempt + 1)
    return f"retry {attempt + 1} in {delay}s ({error})"


def schedule(parcel: SimulatedParcel) -> None:
    """Each planned event as a task at its time (after the booking commits)."""

    def enqueue():
        for event in parcel.plan:
            run_event.using(run_after=datetime.fromisoformat(event["due"])).enqueue(parcel.tracking_no, event["n"])

    transaction.on_commit(enqueue)


# ---- the courier as the platform sees it ----------------------------------------------------------------------


class SimulatorCourier(Courier):
    name = NAME
    services = frozenset({"standard", "cold_chain"})

    def create_shipment(self, shipment) -> str:
        order = shipment.order
        address = order.delivery_address
        if not address:
            raise CourierError("no delivery address")
        city = district = ""
        if order.address_id:
            city, district = order.address.city, order.address.district
        start = timezone.now()
        for _attempt in range(5):
            tracking_no = _new_tracking_no()
            try:
                with transaction.atomic():
                    parcel = SimulatedParcel.objects.create(
                        tracking_no=tracking_no, reference=order.number, service=shipment.service,
                        receiver=order.recipient, receiver_phone=order.recipient_phone, receiver_address=address,
                        callback_url=notify_url(),
                        plan=plan_events(tracking_no=tracking_no, start=start, service=shipment.service, city=city,
                                         district=district, address=address),
                    )
            except IntegrityError:
                continue  # that number is taken: draw another
            schedule(parcel)
            return tracking_no
        raise CourierError("could not assign a tracking number")

    def cancel(self, shipment) -> None:
        """Cancel a booked parcel; once the courier has picked it up, it can no longer be cancelled."""
        with transaction.atomic():
            parcel = SimulatedParcel.objects.select_for_update().filter(tracking_no=shipment.tracking_no).first()
            if parcel is None:
                raise CourierError(f"unknown tracking number {shipment.tracking_no!r}")
            if parcel.status == "cancelled":
                return
            if parcel.status != "created":
                raise CourierError("the parcel was already picked up")
            parcel.status = "cancelled"
            parcel.cancelled_at = timezone.now()
            parcel.save(update_fields=["status", "cancelled_at"])

    def parse_callback(self, request) -> list[TrackingUpdate]:
        body = request.body
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        nonce = request.headers.get(NONCE_HEADER, "")
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not (timestamp and nonce and given):
            raise BadSignature("unsigned callback")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CALLBACK_AGE_SECONDS:
            raise BadSignature("stale or malformed timestamp")
        if not hmac.compare_digest(signature(timestamp=timestamp, nonce=nonce, body=body), given):
            raise BadSignature("signature does not match")
        # Signed and fresh: refuse the very same request twice (a replayed nonce) within the window.
        if not cache.add(f"courier-sim-nonce:{nonce}", 1, timeout=2 * MAX_CALLBACK_AGE_SECONDS):
            raise BadSignature("nonce already used")
        try:
            payload = json.loads(body)
            tracking_no = str(payload["tracking_no"])
            updates = []
            for event in payload["events"]:
                occurred_at = datetime.fromisoformat(event["occurred_at"])
                if event["status"] not in EVENT_STATUSES or timezone.is_naive(occurred_at):
                    raise ValueError(event["status"])
                updates.append(TrackingUpdate(
                    event_id=str(event["event_id"]), tracking_no=tracking_no, status=event["status"],
                    occurred_at=occurred_at, location=str(event.get("location", "")),
                    description=str(event.get("description", "")),
                ))
        except (ValueError, KeyError, TypeError) as exc:
            raise CourierError(f"malformed callback: {exc}") from None
        return updates
