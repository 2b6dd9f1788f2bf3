"""Medicine orders from approved prescriptions, stock lots, dispensing, shipments and their tracking.

An order's life in one place::

    created ──paid──▶ paid ──start──▶ dispensing ──hand over──▶ shipped ──▶ delivered
       │               │                 │   ╲ (pickup) ──ready──▶ ready_for_pickup ──collected──▶ delivered
       │               └──cancel──▶ refunded                       shipped ──delivery failed──▶ refunded
       └──cancel / payment timeout──▶ cancelled

Stock is held (``Reservation``) from the moment the order is created, on the lots that expire first and are
not expired, and released when the order is cancelled. Dispensing turns the holds into ``Dispense`` rows (the
lots that really left the shelf). ``StockLot`` keeps ``0 ≤ reserved ≤ on_hand`` as a database constraint and
every change is a conditional UPDATE, so stock cannot go negative under concurrency.

A shipment's status follows its tracking events ordered by the courier's own timestamps, not by arrival.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.prescriptions.models import Drug, Prescription, PrescriptionItem


class Address(models.Model):
    """A delivery address saved by a patient (or a proxy for them). Archived, never deleted: orders copy it."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="addresses")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(_("label"), max_length=32, blank=True, help_text=_("e.g. home, daughter's home"))
    recipient = models.CharField(_("recipient"), max_length=64)
    phone = models.CharField(_("recipient's mobile"), max_length=20)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    district = models.CharField(_("district"), max_length=32)
    detail = models.CharField(_("street and number"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=6, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("address")
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        return f"{self.recipient} {self.one_line}"

    @property
    def one_line(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.detail}"


class StockLot(models.Model):
    """One batch of a drug on the pharmacy's shelf, counted in packages."""

    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="lots")
    lot_no = models.CharField(_("lot number"), max_length=32)
    expires_on = models.DateField(_("expiry date"))
    received_on = models.DateField(_("received on"))
    on_hand = models.IntegerField(_("packages on the shelf"))
    reserved = models.IntegerField(_("packages held for orders"), default=0)

    class Meta:
        ordering = ["expires_on", "pk"]
        verbose_name = _("stock lot")
        verbose_name_plural = _("stock lots")
        constraints = [
            models.UniqueConstraint(fields=["drug", "lot_no"], name="stock_lot_once"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                                   name="stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.drug.sku} lot {self.lot_no} (exp {self.expires_on})"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Fulfilment(models.TextChoices):
    DELIVERY = "delivery", _("delivery to an address")
    PICKUP = "pickup", _("pickup at the hospital pharmacy")


class OrderStatus(models.TextChoices):
    CREATED = "created", _("waiting for payment")
    PAID = "paid", _("paid, waiting for the pharmacy")
    DISPENSING = "dispensing", _("being prepared by the pharmacy")
    READY_FOR_PICKUP = "ready_for_pickup", _("ready for pickup")
    SHIPPED = "shipped", _("on its way")
    DELIVERED = "delivered", _("delivered")
    CANCELLED = "cancelled", _("cancelled")
    REFUNDED = "refunded", _("cancelled and refunded")


OPEN_ORDER_STATUSES = (
    OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.DISPENSING, OrderStatus.READY_FOR_PICKUP, OrderStatus.SHIPPED,
)


class Order(models.Model):
    Status = OrderStatus
    TRANSITIONS = {
        OrderStatus.CREATED: {OrderStatus.PAID, OrderStatus.CANCELLED},
        OrderStatus.PAID: {OrderStatus.DISPENSING, OrderStatus.REFUNDED},
        OrderStatus.DISPENSING: {OrderStatus.SHIPPED, OrderStatus.READY_FOR_PICKUP, OrderStatus.REFUNDED},
        OrderStatus.READY_FOR_PICKUP: {OrderStatus.DELIVERED, OrderStatus.REFUNDED},
        OrderStatus.SHIPPED: {OrderStatus.DELIVERED, OrderStatus.REFUNDED},
    }

    number = models.CharField(_("order number"), max_length=24, unique=True)
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="orders")
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="orders")
    fulfilment = models.CharField(_("delivery or pickup"), max_length=16, choices=Fulfilment.choices)
    # The address as it was when ordered (the saved one may change later).
    address = models.ForeignKey(Address, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recipient = models.CharField(max_length=64, blank=True)
    recipient_phone = models.CharField(max_length=20, blank=True)
    delivery_address = models.CharField(max_length=300, blank=True)
    cold_chain = models.BooleanField(_("needs the cold chain"), default=False)
    items_fen = models.PositiveIntegerField()
    delivery_fee_fen = models.PositiveIntegerField(default=0)
    total_fen = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.CREATED)
    status_reason = models.TextField(blank=True)
    # Unpaid orders hold their stock until then; a task cancels them.
    hold_until = models.DateTimeField()
    # The payments app's charge ("order:<id>"); payments never imports this app.
    charge_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    dispensed_at = models.DateTimeField(null=True, blank=True)
    dispensed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    received_confirmed_at = models.DateTimeField(null=True, blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["patient", "status"])]
        constraints = [
            # One live order per prescription: a double tap, or the patient and a relative at once, make one.
            models.UniqueConstraint(
                fields=["prescription"], condition=~Q(status__in=["cancelled", "refunded"]),
                name="order_one_live_per_prescription",
            ),
            models.CheckConstraint(condition=Q(total_fen=F("items_fen") + F("delivery_fee_fen")),
                                   name="order_total_adds_up"),
            models.CheckConstraint(
                condition=Q(fulfilment="pickup") | ~Q(delivery_address=""), name="order_delivery_has_address"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("orders are never deleted")

    @property
    def charge_reference(self) -> str:
        return f"order:{self.pk}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    item = models.ForeignKey(PrescriptionItem, on_delete=models.PROTECT, related_name="+")
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("packages"))
    unit_price_fen = models.PositiveIntegerField()
    line_fen = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(line_fen=F("quantity") * F("unit_price_fen")),
                                   name="order_line_adds_up"),
        ]

    def __str__(self) -> str:
        return f"{self.drug.sku} × {self.quantity}"


class Reservation(models.Model):
    """Packages of a lot held for an order line until it is dispensed or cancelled."""

    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="reservations")
    lot = models.ForeignKey(StockLot, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    released = models.BooleanField(default=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.lot} for line {self.line_id}"


class Dispense(models.Model):
    """Packages of a lot that left the shelf for an order line: what traceability follows."""

    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="dispenses")
    lot = models.ForeignKey(StockLot, on_delete=models.PROTECT, related_name="dispenses")
    quantity = models.PositiveIntegerField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="dispense_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.lot} for line {self.line_id}"


class ShipmentService(models.TextChoices):
    STANDARD = "standard", _("standard express")
    COLD_CHAIN = "cold_chain", _("cold-chain express (2–8 °C)")


class ShipmentStatus(models.TextChoices):
    CREATED = "created", _("waiting for the courier")
    PICKED_UP = "picked_up", _("picked up by the courier")
    IN_TRANSIT = "in_transit", _("in transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("out for delivery")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("delivery failed")
    CANCELLED = "cancelled", _("cancelled")


# Order of progress: a later event of an earlier stage never moves a shipment back.
SHIPMENT_PROGRESS = {
    ShipmentStatus.CREATED: 0,
    ShipmentStatus.PICKED_UP: 1,
    ShipmentStatus.IN_TRANSIT: 2,
    ShipmentStatus.OUT_FOR_DELIVERY: 3,
    ShipmentStatus.DELIVERED: 9,
    ShipmentStatus.FAILED: 9,
    ShipmentStatus.CANCELLED: 9,
}
FINAL_SHIPMENT_STATUSES = (ShipmentStatus.DELIVERED, ShipmentStatus.FAILED, ShipmentStatus.CANCELLED)


class Shipment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    provider = models.CharField(max_length=32)
    service = models.CharField(max_length=16, choices=ShipmentService.choices)
    tracking_no = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.CREATED)
    failure_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    handed_over_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    last_event_at = models.DateTimeField(null=True, blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "tracking_no"], condition=~Q(tracking_no=""),
                                    name="shipment_tracking_once"),
            models.UniqueConstraint(fields=["order"], condition=~Q(status="cancelled"),
                                    name="shipment_one_live_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.tracking_no} ({self.status})"


class TrackingEvent(models.Model):
    """One event from the courier, stored once (``event_id``) and ordered by the courier's ``occurred_at``."""

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="events")
    event_id = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    location = models.CharField(max_length=128, blank=True)
    description = models.CharField(max_length=255, blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["shipment", "event_id"], name="tracking_event_once")]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.status} at {self.occurred_at}"


# The courier simulator's own books (its side of the counter, never the platform's rows): couriers/models.py.
from .couriers.models import SimulatedParcel  # noqa: E402, F401
