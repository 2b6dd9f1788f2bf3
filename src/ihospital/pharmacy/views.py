"""Pages of medicine orders for patients (and the relatives acting for them): ordering from an approved
prescription (delivery to a saved address or pickup, the price, paying at the provider), the list of orders, and
one order with its live tracking, paying again, cancelling and confirming receipt.

The pharmacists' pages live beside this one: ``views_pharmacy`` (the dispensing worklist, the work page of one
order, the dashboard) and ``views_trace`` (the traceability page). Views parse, call one service or selector, and
show a refusal with the service's message and status. Parts marked ``data-live-refresh`` re-read themselves
(``?part=...``) when ``prescriptions/live.js`` hears on ``ws/prescriptions/live/`` that an order changed.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ihospital.accounts.acting import patient_page
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.prescriptions.selectors import prescription_for
from ihospital.prescriptions.services import require_dispensable
from ihospital.prescriptions.views import live_strings, page_error

from . import selectors, services
from .display import last_payment, order_lines, order_timeline, shipment_of, tracking_rows
from .forms import PICKUP, AddressForm, DestinationForm, ReasonForm
from .models import Address, Order, OrderStatus

CANCELLABLE_BY_PATIENT = (OrderStatus.CREATED, OrderStatus.PAID)
PAYMENT_POLL = timedelta(minutes=10)
ADDRESS_FIELDS = ("recipient", "phone", "province", "city", "district", "detail", "postal_code", "label")


def order_url(order_id: int) -> str:
    return reverse("pharmacy:order", args=[order_id])


def to_provider(url: str, order_id: int):
    """To the provider's page. A page of this site (the sandbox's checkout) is told where to come back to: the
    order's page (its ``next`` is checked with ``core.pages.safe_next`` there); an outside address goes as it is."""
    if url.startswith("/") and not url.startswith("//"):
        url += ("&" if "?" in url else "?") + urlencode({"next": order_url(order_id)})
    return redirect(url)


# ---- ordering from a prescription --------------------------------------------------------------------------------


def _orderable(request, rx_id: int, *, audit_read: bool = True):
    rx, role = prescription_for(request.user, rx_id, audit_read=audit_read)
    if role != "patient":
        raise NotFound()
    return rx


def _live_order(rx) -> Order | None:
    """The prescription's order that is still going (the prescription was opened through its scoped selector)."""
    return rx.orders.exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.REFUNDED]).first()


def _choice(request, addresses: list[Address]) -> str:
    wanted = (request.POST.get("destination") or request.GET.get("destination") or "").strip()
    valid = {PICKUP} | {f"address:{a.pk}" for a in addresses}
    if wanted in valid:
        return wanted
    return f"address:{addresses[0].pk}" if addresses else PICKUP


def _order_context(request, rx, *, address_form=None, error=None, destination: str = "") -> dict:
    addresses = list(selectors.addresses_of_patient(request.user, rx.patient_id))
    destination = destination or _choice(request, addresses)
    fulfilment, address_id = DestinationForm.parse(destination)
    address = next((a for a in addresses if a.pk == address_id), None)
    refusal = None
    try:
        require_dispensable(rx)  # the rule services.create_order applies: said before the patient chooses
    except DomainError as exc:
        refusal = page_error(exc)
    return {
        "rx": rx, "addresses": addresses, "destination": destination, "pickup": fulfilment == PICKUP,
        "address": address, "quote": services.quote(rx, address), "address_form": address_form or AddressForm(),
        "address_open": bool(address_form and address_form.errors) or not addresses,
        "page_error": error, "refusal": refusal, "minutes": settings.ORDER_PAYMENT_MINUTES,
    }


@require_http_methods(["GET", "POST"])
@login_required
def new_order(request, rx_id: int):
    rx = _orderable(request, rx_id, audit_read=request.method == "GET" and not request.GET.get("part"))
    live = _live_order(rx)
    if live is not None:
        if request.method == "POST":
            messages.info(request, _("This prescription already has an order."))
        return redirect(order_url(live.pk))
    if request.method == "GET":
        context = _order_context(request, rx)
        if request.GET.get("part") == "summary":
            return render(request, "pharmacy/_order_quote.html", context)
        return render(request, "pharmacy/order_new.html", context)
    fulfilment, address_id = DestinationForm.parse(request.POST.get("destination", ""))
    try:
        order = services.create_order(actor=request.user, prescription_id=rx.pk, fulfilment=fulfilment,
                                      address_id=address_id)
    except NotFound:
        raise
    except DomainError as exc:
        existing = _live_order(rx) if exc.code == "order_exists" else None
        if existing is not None:
            exc.link = order_url(existing.pk)
        context = _order_context(request, rx, error=page_error(exc))
        return render(request, "pharmacy/order_new.html", context, status=exc.status)
    return _to_checkout(request, order)


def _to_checkout(request, order: Order):
    try:
        url = services.checkout(actor=request.user, order_id=order.pk)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect(order_url(order.pk))
    return to_provider(url, order.pk)


@require_POST
@login_required
def add_address(request, rx_id: int):
    rx = _orderable(request, rx_id, audit_read=False)
    form = AddressForm(request.POST)
    form.is_valid()
    try:
        address = services.save_address(actor=request.user, patient_id=rx.patient_id, **form.values())
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        context = _order_context(request, rx, address_form=form)
        return render(request, "pharmacy/order_new.html", context, status=exc.status)
    messages.success(request, _("The address was saved."))
    return redirect(reverse("pharmacy:order_new", args=[rx.pk]) + f"?destination=address:{address.pk}#destination")


# ---- my orders ------------------------------------------------------------------------------------------------


@require_GET
@patient_page
def orders(request, patient):
    context = {"patient": patient, "orders": list(selectors.orders_of_patient(request.user, patient.pk)[:100])}
    if request.GET.get("part") == "list":
        return render(request, "pharmacy/_orders_list.html", context)
    context.update(patients=list(patients_acted_for(request.user).select_related("user").order_by("pk")),
                   live=live_strings())
    return render(request, "pharmacy/orders.html", context)


def _detail_context(request, order, *, cancel_form=None, error=None) -> dict:
    now = timezone.now()
    payment = last_payment(order)
    shipment = shipment_of(order)
    return {
        "order": order, "lines": order_lines(order), "shipment": shipment, "pickup": order.fulfilment == "pickup",
        "events": tracking_rows(selectors.shipment_events(order)), "payment": payment,
        "can_pay": order.status == OrderStatus.CREATED and order.hold_until > now,
        "payment_pending": bool(payment and payment.status == "pending"),
        # A declined payment does not change the order, so nothing is said on the live socket: while an attempt
        # started moments ago is pending, the page asks again every few seconds (and stops once it is decided).
        "poll_payment": bool(payment and payment.status == "pending" and payment.created_at > now - PAYMENT_POLL),
        "payment_failed": bool(payment and payment.status in ("failed", "closed")),
        "can_cancel": order.status in CANCELLABLE_BY_PATIENT,
        "can_confirm": order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        and order.fulfilment == "delivery" and order.received_confirmed_at is None,
        "cancel_form": cancel_form or ReasonForm(), "page_error": error, "history": order_timeline(order),
        "live": live_strings(),
    }


@require_GET
@login_required
def order_detail(request, order_id: int):
    order, role = selectors.order_for(request.user, order_id)
    if role == "pharmacist":
        return redirect("pharmacy:dispense", order_id=order.pk)
    context = _detail_context(request, order)
    if request.GET.get("part") == "live":
        return render(request, "pharmacy/_order_live.html", context)
    return render(request, "pharmacy/order_detail.html", context)


def _detail_again(request, order_id: int, exc: DomainError, **kwargs):
    order, role = selectors.order_for(request.user, order_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    context = _detail_context(request, order, error=page_error(exc), **kwargs)
    return render(request, "pharmacy/order_detail.html", context, status=exc.status)


@require_POST
@login_required
def pay(request, order_id: int):
    try:
        url = services.checkout(actor=request.user, order_id=order_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _detail_again(request, order_id, exc)
    return to_provider(url, order_id)


@require_POST
@login_required
def cancel(request, order_id: int):
    form = ReasonForm(request.POST)
    form.is_valid()
    order, role = selectors.order_for(request.user, order_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    try:
        order = services.cancel_order(actor=request.user, order_id=order.pk,
                                      reason=form.cleaned_data.get("reason", "") or _("cancelled by the patient"))
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _detail_again(request, order_id, exc, cancel_form=form)
    if order.status == OrderStatus.REFUNDED:
        messages.success(request, _("The order was cancelled. The money goes back to where you paid from."))
    else:
        messages.success(request, _("The order was cancelled."))
    return redirect(order_url(order.pk))


@require_POST
@login_required
def confirm_receipt(request, order_id: int):
    try:
        services.confirm_receipt(actor=request.user, order_id=order_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _detail_again(request, order_id, exc)
    messages.success(request, _("Thank you: you confirmed that the medicines arrived."))
    return redirect(order_url(order_id))
