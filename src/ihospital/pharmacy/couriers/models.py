"""The courier simulator's own records: what an express company keeps on its side of the counter.

Registered in the pharmacy app (imported at the end of ``pharmacy/models.py``). Nothing here points at the
platform's rows: the simulator knows a parcel by its tracking number and the sender's reference, like a real
courier, and reaches the platform only through signed HTTP callbacks.
"""

from __future__ import annotations

from django.db import models


class SimulatedParcel(models.Model):
    """A parcel booked with the built-in courier simulator, with the events it has planned for it.

    ``plan`` is the list of events, in order, each ``{"n", "event_id", "status", "due", "location",
    "description", "happened", "acknowledged", "attempts"}``; ``due`` (ISO 8601, UTC) is the courier's own
    clock for the event and is what the callback reports as ``occurred_at``, however late it is delivered.
    """

    tracking_no = models.CharField(max_length=32, unique=True)
    reference = models.CharField(max_length=64, help_text="the sender's reference (order number)")
    service = models.CharField(max_length=16)
    receiver = models.CharField(max_length=64)
    receiver_phone = models.CharField(max_length=20, blank=True)
    receiver_address = models.CharField(max_length=300)
    # Where the sender asked for tracking callbacks when it booked the parcel.
    callback_url = models.CharField(max_length=300)
    # A ShipmentStatus value: created (booked) → picked_up → … → delivered / failed, or cancelled.
    status = models.CharField(max_length=20, default="created")
    plan = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "pharmacy"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.tracking_no} ({self.status})"
