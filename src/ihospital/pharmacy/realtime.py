"""What orders tell open pages, after commit, on the live socket of prescriptions (``ws/prescriptions/live/``):
the patient's group (their medicines and orders pages) and the pharmacy's (worklists). No health data travels:
pages re-read through their selectors."""

from __future__ import annotations

from ihospital.prescriptions import realtime as rx_realtime


def order_changed(order) -> None:
    rx_realtime.changed(what="order", obj_id=order.pk, status=order.status, patient_id=order.patient_id,
                        pharmacy=True)
