"""Set up a medicine order journey for browser tests and demos, and print what is needed to drive it, as JSON.

Everything is made through the services (the formulary loader, registration, the in-person diagnosis, an online
visit, prescribing, signing, the pharmacist's review, saving an address), except the stock lots, which the
pharmacy receives in the back office (admin):

- a patient with type 2 diabetes (E11 diagnosed in person) whose prescription from an online visit, metformin and
  insulin glargine (cold chain, 2–8 °C) for 28 days, a pharmacist has just **approved**: ready to order;
- a saved delivery address of the patient's;
- stock of both drugs: a lot expiring before the 28 days of supply are over (never picked), and two usable lots
  (first-expiring-first-out picks the earlier one, printed as ``expected_lots``);
- a doctor and a pharmacist with TOTP devices (``--code`` prints a code the pharmacist's device accepts now).

Running again with the same ``--key`` creates nothing new. Refuses unless demo shortcuts are allowed (never in
production): it can print sign-in sessions and codes.

    manage.py e2e_pharmacy_fixture --key journey --sessions
    manage.py e2e_pharmacy_fixture --key journey --code
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import F
from django.utils import timezone

from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.directory.models import Department
from ihospital.prescriptions import formulary, reviewing
from ihospital.prescriptions import services as prescriptions
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import (
    PASSWORD,
    _fresh,
    _patient,
    _staff,
    clinic,
)
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import Command as RxFixture
from ihospital.prescriptions.models import Drug, Prescription, RxStatus
from ihospital.records import services as records
from ihospital.records.models import Condition
from ihospital.visits import services as visits
from ihospital.visits.models import ACTIVE_STATUSES, Visit, VisitStatus

from ... import services
from ...models import Address, StockLot

METFORMIN = "DM-MET-500"
GLARGINE = "DM-GLA-300"
SUPPLY_DAYS = 28
DIABETES = "E11.9"
PATIENTS = {  # key → (name, birth date); any other key gets the first
    "journey": ("王淑芬", date(1958, 9, 21)),
    "declined": ("赵德明", date(1961, 2, 8)),
}


class Command(BaseCommand):
    help = "Create (idempotently) an approved prescription ready to order, stock, an address; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--key", default="e2e", help="names this fixture; the same key gives the same data")
        parser.add_argument("--sessions", action="store_true",
                            help="also create a signed-in session for the patient")
        parser.add_argument("--code", action="store_true",
                            help="only print a 6-digit code the pharmacist's device accepts now, as {\"code\": ...}")

    def handle(self, *args, key: str, sessions: bool, code: bool, **options):
        if not settings.DEMO_ENABLED:
            raise CommandError("Demo and test fixtures are disabled in production (IHOSPITAL_DEPLOYMENT=production).")
        if not key.replace("-", "").replace("_", "").isalnum() or len(key) > 16:
            raise CommandError("--key: letters, digits, - and _ only, at most 16 characters")
        if code:
            device = _staff(f"e2e.ph.ph.{key}", "孙丽", Role.PHARMACIST, f"E2E-PHPH-{key}")[1]
            self.stdout.write(json.dumps({"code": RxFixture._next_code(device)}))
            return

        formulary.load()
        drugs = {sku: Drug.objects.get(sku=sku) for sku in (METFORMIN, GLARGINE)}
        for drug in drugs.values():
            self._stock(drug)

        department, (doctor, _device), (pharmacist, pharmacist_device) = clinic(
            key, department=("ph", "内分泌科", "Endocrinology"), doctor=("PHDR", "马建国", 12),
            pharmacist=("PHPH", "孙丽"),
        )

        name, birth = PATIENTS.get(key, PATIENTS["journey"])
        patient = _patient(key, "pharmacy", name, birth)
        rx = self._approved(doctor, pharmacist, patient, department, drugs)
        address = self._address(patient)

        out = {
            "password": PASSWORD,
            "rx": {"id": rx.pk, "number": rx.number},
            "address": {"id": address.pk, "one_line": address.one_line, "recipient": address.recipient},
            "drugs": {sku: {"zh": d.generic_name_zh, "cold_chain": d.cold_chain, "price_fen": d.price_fen}
                      for sku, d in drugs.items()},
            "expected_lots": {sku: self._fefo(d) for sku, d in drugs.items()},
            "too_soon_lots": [f"E2E-{sku}-1" for sku in drugs],
            "fees": {"delivery_fen": settings.DELIVERY_FEE_FEN, "cold_chain_fen": settings.COLD_CHAIN_SURCHARGE_FEN},
            "patient": {"user_id": patient.user_id, "name": patient.real_name, "mrn": patient.mrn,
                        "login": patient.user.phone},
            "pharmacist": {"user_id": pharmacist.pk, "name": pharmacist.real_name, "login": pharmacist.username},
            "doctor": {"user_id": doctor.pk, "name": doctor.real_name},
        }
        if sessions:
            out["patient"]["session"] = RxFixture._session(patient.user, None)
        self.stdout.write(json.dumps(out, ensure_ascii=False))

    # ---- the story ---------------------------------------------------------------------------------------------

    @staticmethod
    def _stock(drug: Drug) -> None:
        """A lot that expires before a 28-day supply is over, and two usable ones (the back office's delivery)."""
        today = timezone.localdate()
        for n, days in ((1, SUPPLY_DAYS - 8), (2, 200), (3, 400)):
            StockLot.objects.get_or_create(
                drug=drug, lot_no=f"E2E-{drug.sku}-{n}",
                defaults={"expires_on": today + timedelta(days=days), "received_on": today - timedelta(days=30),
                          "on_hand": 500},
            )

    @staticmethod
    def _fefo(drug: Drug) -> str:
        lot = StockLot.objects.filter(
            drug=drug, expires_on__gt=timezone.localdate() + timedelta(days=SUPPLY_DAYS), on_hand__gt=F("reserved"),
        ).order_by("expires_on", "pk").first()
        return lot.lot_no if lot else ""

    @staticmethod
    def _diagnosis(doctor: User, patient: PatientProfile, department: Department) -> Condition:
        condition = Condition.objects.filter(patient=patient, code=DIABETES, encounter__isnull=False).first()
        if condition is None:
            encounter = records.record_in_person_encounter(
                actor=doctor, mrn=patient.mrn, department_id=department.pk,
                started_at=timezone.now() - timedelta(days=90), reason="口渴、多尿，空腹血糖升高",
                summary="空腹血糖 9.8 mmol/L，HbA1c 8.4%，诊断 2 型糖尿病。",
            )
            condition = records.add_condition(actor=doctor, patient_id=patient.pk, code=DIABETES,
                                              encounter_id=encounter.pk, chronic=True,
                                              onset_date=timezone.localdate() - timedelta(days=3 * 365))
        return condition

    def _visit(self, doctor: User, patient: PatientProfile, department: Department) -> Visit:
        condition = self._diagnosis(doctor, patient, department)
        visit = Visit.objects.filter(patient=patient, department=department, status__in=ACTIVE_STATUSES).first()
        if visit is None:
            visit = visits.request_visit(
                online_care_consent=True, actor=patient.user, patient_id=patient.pk, department_id=department.pk,
                complaint="血糖控制尚可，想继续开药。", condition_id=condition.pk, mode="text",
            )
        if visit.status == VisitStatus.REQUESTED:
            taken = visits.take_next_from_queue(actor=doctor, department_id=department.pk)
            if taken.pk != visit.pk:
                raise CommandError(f"the doctor took visit {taken.pk} from the queue, not {visit.pk}")
            visit = taken
        if visit.status == VisitStatus.ACCEPTED:
            visit = visits.start_visit(actor=doctor, visit_id=visit.pk)
        return visit

    def _approved(self, doctor: User, pharmacist: User, patient: PatientProfile, department: Department,
                  drugs: dict[str, Drug]) -> Prescription:
        rx = Prescription.objects.filter(patient=patient, status=RxStatus.APPROVED).order_by("-pk").first()
        if rx is not None:
            return rx
        visit = self._visit(doctor, patient, department)
        rx = prescriptions.start_prescription(actor=doctor, visit_id=visit.pk, kind="chronic", refills_allowed=0,
                                              notes="低糖饮食，每周监测空腹血糖；胰岛素笔未开封前冷藏保存。")
        prescriptions.add_item(actor=doctor, prescription_id=rx.pk, drug_id=drugs[METFORMIN].pk, dose="500",
                               frequency="bid", duration_days=SUPPLY_DAYS, instructions="随餐服用")
        prescriptions.add_item(actor=doctor, prescription_id=rx.pk, drug_id=drugs[GLARGINE].pk, dose="10",
                               frequency="qn", duration_days=SUPPLY_DAYS, instructions="睡前皮下注射")
        findings = prescriptions.check_prescription(actor=doctor, prescription_id=rx.pk)
        overrides = {f["key"]: "已评估，继续用药并加强血糖监测。" for f in findings}
        prescriptions.sign_prescription(actor=doctor, prescription_id=rx.pk, session=_fresh(), overrides=overrides)
        reviewing.review_prescription(actor=pharmacist, prescription_id=rx.pk, approve=True, acknowledge=True)
        return Prescription.objects.get(pk=rx.pk)

    @staticmethod
    def _address(patient: PatientProfile) -> Address:
        address = Address.objects.filter(patient=patient, archived=False).first()
        if address is None:
            address = services.save_address(
                actor=patient.user, patient_id=patient.pk, label="家", recipient=patient.real_name,
                phone=patient.user.phone, province="山西省", city="太原市", district="小店区",
                detail="平阳路 128 号 3 单元 502 室", postal_code="030006",
            )
        return address
