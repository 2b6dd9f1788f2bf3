"""The medical-test part of the demo: the catalogue, two weeks of bookable slots, and Mr Li Jianhua's tests.

Mr Li (hypertension, dr.wang's patient) was seen in clinic a few days ago. Over the last 12 months he had a lipid
panel and an HbA1c four times each, entered by the lab technician lab.zhou and signed off by dr.wang, so the
trend chart has a line (LDL-C falling from 4.1 to 2.9 mmol/L on a statin, HbA1c between 6.0 and 6.4 %). A fasting
glucose is ordered now and waits for him to book a time. Mr Li Fusheng (dr.guo's patient) has an abdominal
ultrasound ordered, waiting to be booked.

Everything goes through the services (``ordering.order``, ``results.record``, ``results.sign_off``), except two
things a demo cannot wait for: each past order is put to "specimen collected" directly (it cannot be booked into
a past slot), and, once released, its dates (ordered, entered, released, and the date in its number) are moved
back to when it happened; the values' observation times are given to ``results.record`` as they were. The audit
log keeps the real times, and the past orders point at the recent clinic visit (ordering needs one).
Running it twice creates nothing new.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ihospital.accounts.models import PatientProfile, User
from ihospital.diagnostics import catalogue, ordering, results, slots
from ihospital.diagnostics.models import DiagnosticOrder, Observation, OrderStatus, Resource
from ihospital.directory.models import Department, FacilityKind
from ihospital.records import services as records
from ihospital.records.models import Encounter, EncounterMode

LI_VISIT = "高血压复诊：血压控制情况，复查血脂、糖化血红蛋白"
ELDER_VISIT = "康复随访：右上腹不适"
# Months ago, and the values of each round (lipid panel: TC, TG, HDL-C, LDL-C in mmol/L; HbA1c in %).
HISTORY = (
    (12, {"tc": "6.2", "tg": "1.9", "hdl_c": "1.1", "ldl_c": "4.1"}, "6.4"),
    (8, {"tc": "5.8", "tg": "1.8", "hdl_c": "1.1", "ldl_c": "3.6"}, "6.3"),
    (4, {"tc": "5.3", "tg": "1.6", "hdl_c": "1.2", "ldl_c": "3.2"}, "6.1"),
    (1, {"tc": "4.9", "tg": "1.5", "hdl_c": "1.2", "ldl_c": "2.9"}, "6.0"),
)


def load(*, staff: dict[str, User], li: PatientProfile, elder: PatientProfile) -> None:
    catalogue.load()
    today = timezone.localdate()
    for resource in Resource.objects.filter(active=True):
        slots.generate(resource, start=today, days=slots.DAYS_AHEAD + 1)

    wang, guo, lab = staff["dr.wang"], staff["dr.guo"], staff["lab.zhou"]
    li_visit = _encounter(wang, li, "cardiology", LI_VISIT, days_ago=3,
                          summary="血压 138/86 mmHg，继续氨氯地平及阿托伐他汀，复查空腹血糖。")
    if not DiagnosticOrder.objects.filter(patient=li, test__code="lipid_panel").exists():
        for months, lipids, hba1c in HISTORY:
            _past_result(wang, lab, li, li_visit, "lipid_panel", lipids, months)
            _past_result(wang, lab, li, li_visit, "hba1c", {"hba1c": hba1c}, months)
    if not DiagnosticOrder.objects.filter(patient=li, test__code="fpg").exists():
        ordering.order(actor=wang, patient_id=li.pk, test_code="fpg", encounter_id=li_visit.pk,
                       reason="高血压患者糖代谢筛查，HbA1c 6.0%")

    elder_visit = _encounter(guo, elder, "rehabilitation", ELDER_VISIT, days_ago=5,
                             summary="右上腹间断隐痛 2 周，进食油腻后加重，查体墨菲征阴性。")
    if not DiagnosticOrder.objects.filter(patient=elder, test__code="us_abdomen").exists():
        ordering.order(actor=guo, patient_id=elder.pk, test_code="us_abdomen", encounter_id=elder_visit.pk,
                       reason="右上腹不适，排除胆囊结石")


def _encounter(doctor: User, patient: PatientProfile, department: str, reason: str, *, days_ago: int,
               summary: str) -> Encounter:
    """The recent clinic visit the orders are written at (the same one on a second run)."""
    found = Encounter.objects.filter(patient=patient, reason=reason, mode=EncounterMode.IN_PERSON).first()
    if found is not None:
        return found
    dept = Department.objects.get(facility__kind=FacilityKind.HOME, code=department)
    return records.record_in_person_encounter(
        actor=doctor, mrn=patient.mrn, department_id=dept.pk, started_at=timezone.now() - timedelta(days=days_ago),
        reason=reason, summary=summary)


def _past_result(doctor: User, lab: User, patient: PatientProfile, encounter: Encounter, test_code: str,
                 values: dict[str, str], months_ago: int) -> DiagnosticOrder:
    """An order resulted and released ``months_ago`` months ago (see the module docstring for what is moved)."""
    at = timezone.localtime().replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=30 * months_ago)
    order = ordering.order(actor=doctor, patient_id=patient.pk, test_code=test_code, encounter_id=encounter.pk,
                           reason="高血压患者心血管风险评估（血脂、血糖）")
    # The specimen was taken at that morning's clinic: no past slot can be booked, so the status is set here.
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.COLLECTED)
    observed = at + timedelta(minutes=20)
    results.record(actor=lab, order_id=order.pk, values=[
        {"analyte": code, "value": value, "observed_at": observed} for code, value in values.items()])
    results.sign_off(actor=doctor, order_id=order.pk)
    DiagnosticOrder.objects.filter(pk=order.pk).update(
        number=f"DX{at - timedelta(days=1):%Y%m%d}{order.pk:06d}", ordered_at=at - timedelta(days=1),
        released_at=at + timedelta(hours=6))
    Observation.objects.filter(order=order).update(entered_at=at + timedelta(hours=3))
    return order
