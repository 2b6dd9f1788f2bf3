"""What do the automated prescription checks cost at signing and at review?

``checks.run`` on a 5-medicine draft for a patient who already has two current prescriptions (6 items), chart
medications and allergies, with the full shipped interaction table and allergy groups. Baseline, in the same
run on the same database: only the reads the checks need (the items with their drugs, the chart's allergies
and medications, the other current items, the interaction table), with no matching. The ratio is the price of
the matching logic over the queries it cannot avoid.

Run: ``.venv/bin/python bench/rx_checks.py`` (SQLite) or with DATABASE_URL=postgres://... (PostgreSQL).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import _django

_django.setup()

from django.utils import timezone  # noqa: E402

from ihospital.accounts.models import PatientProfile  # noqa: E402
from ihospital.prescriptions import checks  # noqa: E402
from ihospital.prescriptions.models import (  # noqa: E402
    AllergyGroup,
    Drug,
    Interaction,
    Prescription,
    PrescriptionItem,
    RxStatus,
)
from ihospital.records.models import Allergy, MedicationStatement  # noqa: E402
from ihospital.web.demo import story  # noqa: E402

N = 300
WARMUP = 30


def prescription(patient, template, drugs, *, status, signed_days_ago=0):
    signed = timezone.now() - timedelta(days=signed_days_ago)
    rx = Prescription.objects.create(
        number=f"B{uuid.uuid4().hex[:12]}", patient=patient, doctor=template.doctor, department=template.department,
        condition=template.condition, diagnosis_code=template.diagnosis_code,
        diagnosis_display=template.diagnosis_display, kind="chronic", status=status,
        signed_at=signed if status != RxStatus.DRAFT else None,
        content_hash="" if status == RxStatus.DRAFT else "x" * 64,
    )
    for position, drug in enumerate(drugs, start=1):
        PrescriptionItem.objects.create(prescription=rx, position=position, drug=drug, dose=drug.unit_amount,
                                        dose_unit=drug.dose_unit, frequency="qd", route=drug.default_route,
                                        duration_days=28, quantity=1)
    return rx


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    story.load()
    patient = PatientProfile.objects.get(user__phone="+86" + story.HYPERTENSIVE.phone)
    template = Prescription.objects.filter(patient=patient).first()
    ordinary = list(Drug.objects.filter(control_class="ordinary", form__in=["tablet", "capsule"]).order_by("sku"))
    draft = prescription(patient, template, ordinary[0:5], status=RxStatus.DRAFT)
    prescription(patient, template, ordinary[5:8], status=RxStatus.APPROVED, signed_days_ago=3)
    prescription(patient, template, ordinary[8:11], status=RxStatus.DISPENSED, signed_days_ago=10)

    def baseline():
        list(draft.items.select_related("drug"))
        list(Allergy.objects.filter(patient=patient, entered_in_error=False))
        list(MedicationStatement.objects.filter(patient=patient, status="active", entered_in_error=False))
        list(PrescriptionItem.objects.filter(prescription__patient=patient, prescription__status__in=[
            "signed", "under_review", "approved", "dispensed"]).exclude(prescription=draft).select_related("drug"))
        list(Interaction.objects.all())
        list(AllergyGroup.objects.all())
        list(Drug.objects.all())

    def run_checks():
        checks.run(draft)

    timed(baseline, WARMUP)
    timed(run_checks, WARMUP)
    findings = checks.run(draft)
    base = _django.percentiles(timed(baseline, N))
    full = _django.percentiles(timed(run_checks, N))
    print(f"{N} runs each; draft of 5 medicines, 6 other current items, "
          f"{Interaction.objects.count()} interactions, {Drug.objects.count()} drugs; {len(findings)} findings")
    print(f"baseline (the reads only): {_django.fmt(base)}")
    print(f"checks.run               : {_django.fmt(full)}")
    dose = Decimal(str(full["p50"] / base["p50"])).quantize(Decimal("0.01"))
    print(f"rx_checks: p50 {full['p50']:.2f} ms ({dose}x the reads alone), p95 {full['p95']:.2f} ms; "
          f"baseline p50 {base['p50']:.2f} ms, p95 {base['p95']:.2f} ms")


if __name__ == "__main__":
    main()
