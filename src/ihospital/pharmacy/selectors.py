"""Reads of orders, scoped to the asking user; reads audited (an order names a patient and their medicines).

A patient and their proxies see the patient's orders; pharmacists see every order (dispensing is their job);
anyone else asking by id gets 404, and the attempt is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import timeline

from .models import Address, Dispense, Order, OrderStatus, Shipment, TrackingEvent

ORDER_RELATED = ("patient__user", "prescription__doctor__user", "placed_by")


def role_for_order(user: User, order: Order) -> str | None:
    if not user.is_authenticated:
        return None
    if user.role == Role.PHARMACIST:
        return "pharmacist"
    if user.role == Role.PATIENT and patients_acted_for(user).filter(pk=order.patient_id).exists():
        return "patient"
    return None


def order_for(user: User, order_id: int, *, audit_read: bool = True) -> tuple[Order, str]:
    order = Order.objects.select_related(*ORDER_RELATED).filter(pk=order_id).first()
    role = role_for_order(user, order) if order is not None else None
    if role is None:
        audit.record(actor=user, action=AuditAction.READ, object_type="pharmacy.order", object_id=order_id,
                     patient_id=order.patient_id if order else None, outcome=AuditOutcome.DENIED)
        raise NotFound()
    if audit_read:
        audit.read(user, order, patient_id=order.patient_id, detail={"role": role})
    return order, role


def orders_of_patient(user: User, patient_id: int) -> QuerySet[Order]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        audit.record(actor=user, action=AuditAction.READ, object_type="accounts.patientprofile", object_id=patient_id,
                     patient_id=patient_id, outcome=AuditOutcome.DENIED)
        raise NotFound()
    audit.record(actor=user, action=AuditAction.READ, object_type="pharmacy.order", patient_id=patient_id,
                 detail={"list": "patient"})
    return Order.objects.filter(patient_id=patient_id).select_related(*ORDER_RELATED).prefetch_related(
        "lines__drug", "shipments"
    )


def addresses_of_patient(user: User, patient_id: int) -> QuerySet[Address]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        audit.record(actor=user, action=AuditAction.READ, object_type="pharmacy.address", patient_id=patient_id,
                     outcome=AuditOutcome.DENIED, detail={"list": "patient"})
        raise NotFound()
    return Address.objects.filter(patient_id=patient_id, archived=False)


def _pharmacist_only(user: User) -> None:
    if not user.is_authenticated or user.role != Role.PHARMACIST:
        raise NotFound()


def dispensing_worklist(user: User) -> QuerySet[Order]:
    """Paid orders waiting for the pharmacy and those being prepared, oldest payment first; cold chain flagged."""
    _pharmacist_only(user)
    audit.record(actor=user, action=AuditAction.READ, object_type="pharmacy.order", detail={"list": "worklist"})
    return (
        Order.objects.filter(status__in=[OrderStatus.PAID, OrderStatus.DISPENSING, OrderStatus.READY_FOR_PICKUP])
        .select_related(*ORDER_RELATED)
        .prefetch_related("lines__drug")
        .order_by("paid_at", "pk")
    )


def orders_dashboard(
    user: User, *, status: str = "", fulfilment: str = "", cold_chain: bool | None = None, since: date | None = None,
    until: date | None = None, query: str = "",
) -> QuerySet[Order]:
    """All orders for the pharmacy's dashboard, filtered."""
    _pharmacist_only(user)
    qs = Order.objects.select_related(*ORDER_RELATED).prefetch_related("shipments")
    if status:
        qs = qs.filter(status=status)
    if fulfilment:
        qs = qs.filter(fulfilment=fulfilment)
    if cold_chain is not None:
        qs = qs.filter(cold_chain=cold_chain)
    if since:
        qs = qs.filter(created_at__date__gte=since)
    if until:
        qs = qs.filter(created_at__date__lte=until)
    if query:
        qs = qs.filter(Q(number__icontains=query) | Q(prescription__number__icontains=query)
                       | Q(shipments__tracking_no__icontains=query) | Q(patient__mrn__iexact=query)).distinct()
    audit.record(actor=user, action=AuditAction.READ, object_type="pharmacy.order", detail={"list": "dashboard"})
    return qs.order_by("-created_at")


def shipment_events(order: Order) -> list[TrackingEvent]:
    """The order's tracking timeline in the courier's time order (the caller already opened the order)."""
    return list(TrackingEvent.objects.filter(shipment__order=order).select_related("shipment").order_by(
        "occurred_at", "pk"))


@dataclass
class Trace:
    order: Order
    prescription_timeline: list
    review: object
    charge: object
    payments: list
    refunds: list
    dispenses: list[Dispense]
    shipments: list[Shipment]
    events: list[TrackingEvent]
    order_timeline: list


def trace(user: User, order_id: int) -> Trace:
    """From a package back to its source: prescription → pharmacist's approval → payment → lots → shipment."""
    from ihospital.payments.models import Charge, Payment, Refund

    _pharmacist_only(user)
    order, _role = order_for(user, order_id)
    rx = order.prescription
    charge = Charge.objects.filter(pk=order.charge_id).first()
    return Trace(
        order=order,
        prescription_timeline=list(timeline(rx)),
        review=getattr(rx, "review", None),
        charge=charge,
        payments=list(Payment.objects.filter(charge=charge)) if charge else [],
        refunds=list(Refund.objects.filter(charge=charge)) if charge else [],
        dispenses=list(Dispense.objects.filter(line__order=order).select_related("lot__drug", "by").order_by("pk")),
        shipments=list(order.shipments.all()),
        events=shipment_events(order),
        order_timeline=list(timeline(order)),
    )


def order_by_tracking(tracking_no: str) -> Order | None:
    shipment = Shipment.objects.filter(tracking_no=tracking_no).select_related("order").first()
    return shipment.order if shipment else None
