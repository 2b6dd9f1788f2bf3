"""What prescriptions and refills tell the open worklists, after the transaction commits.

Events carry no health data, only that something changed; each page re-reads its list through its own scoped
selector. Groups: ``rx.pharmacy`` (the pharmacists' review worklist), ``rx.doctor.<user_id>`` (a doctor's own
prescriptions and refills), ``rx.dept.<department_id>`` (a department's refill worklist) and
``rx.patient.<patient_id>`` (the patient's and their proxies' medicines page).
"""

from __future__ import annotations

from ihospital.core import live

PHARMACY = "rx.pharmacy"


def doctor_group(user_id: int) -> str:
    return f"rx.doctor.{user_id}"


def department_group(department_id: int) -> str:
    return f"rx.dept.{department_id}"


def patient_group(patient_id: int) -> str:
    return f"rx.patient.{patient_id}"


def changed(*, what: str, obj_id: int, status: str, patient_id: int, doctor_user_id: int | None = None,
            department_id: int | None = None, pharmacy: bool = False) -> None:
    groups = [patient_group(patient_id)]
    if doctor_user_id:
        groups.append(doctor_group(doctor_user_id))
    if department_id:
        groups.append(department_group(department_id))
    if pharmacy:
        groups.append(PHARMACY)
    event = {"type": "rx.changed", "what": what, "id": obj_id, "status": status}
    live.send_on_commit(groups, event)


def prescription_changed(rx, *, pharmacy: bool = True) -> None:
    changed(what="prescription", obj_id=rx.pk, status=rx.status, patient_id=rx.patient_id,
            doctor_user_id=rx.doctor.user_id, pharmacy=pharmacy)


def refill_changed(refill) -> None:
    changed(what="refill", obj_id=refill.pk, status=refill.status, patient_id=refill.patient_id,
            doctor_user_id=refill.doctor.user_id, department_id=refill.department_id)
