"""Set up prescriptions for browser tests and demos, and print what is needed to drive them, as JSON.

Two patients of one doctor, everything made through the services (the formulary loader, registration, the
in-person diagnosis, online visits, prescribing, signing, the pharmacist's review, dispensing):

- ``refill``: a hypertensive patient whose chronic prescription (amlodipine, 28 days, 3 refills) was signed,
  approved and dispensed 25 days ago, so a refill is due now (``RX_REFILL_EARLY_DAYS``). Only the dates are moved
  back (a queryset update), and the content hash and seals are computed again over the moved dates, so the slip of
  the original still verifies as genuine.
- ``visit``: a hypertensive patient in an online visit that is in progress, its diagnosis accepted, taking
  nifedipine (recorded on the chart), so prescribing amlodipine, of the same class, gives a duplicate-therapy
  finding to change or override.

No TOTP code is used up here (the services accept a second factor confirmed moments ago, which this command says
for the doctor): the browser test types the doctor's code. ``--code`` prints a code the doctor's device accepts now
(the next step's when the current one was used). Running again with the same ``--key`` creates nothing new.
Refuses unless demo shortcuts are allowed (never in production): it can print sign-in sessions and codes.

    manage.py e2e_prescription_fixture --key journey --sessions
    manage.py e2e_prescription_fixture --key journey --code
"""

from __future__ import annotations

import hashlib
import json
import time
from base64 import b32encode
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from stdnum.cn import ric

from ihospital.accounts import services as accounts
from ihospital.accounts.middleware import LAST_SEEN
from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.accounts.services import SECOND_FACTOR_AT
from ihospital.directory import services as directory
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner
from ihospital.prescriptions import formulary, reviewing, services
from ihospital.prescriptions.models import Drug, Prescription, Review, RxStatus
from ihospital.records import services as records
from ihospital.records.models import Condition, MedicationStatement
from ihospital.visits import services as visits
from ihospital.visits.models import ACTIVE_STATUSES, ConsultationDay, Visit, VisitStatus

PASSWORD = "E2e-rx-2026!"
AMLODIPINE = "CV-AML-5"
NIFEDIPINE = "CV-NIF-30"
SIGNED_DAYS_AGO = 25


def _digits(key: str, salt: str, n: int) -> str:
    number = int(hashlib.sha256(f"rx:{salt}:{key}".encode()).hexdigest(), 16)
    return str(number % 10**n).zfill(n)


def _patient(key: str, salt: str, name: str, birth: date) -> PatientProfile:
    body = f"140105{birth:%Y%m%d}{_digits(key, salt, 3)}"
    resident_id = body + ric.calc_check_digit(body + "0")
    existing = PatientProfile.objects.select_related("user").filter(resident_id=resident_id).first()
    if existing:
        return existing
    return accounts.register_patient(real_name=name, resident_id=resident_id, phone="137" + _digits(key, salt, 8),
                                     password=PASSWORD, health_data_consent=True)


def _staff(username: str, name: str, role: str, employee_no: str) -> tuple[User, TOTPDevice]:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = accounts.create_staff(username=username, real_name=name, role=role, password=PASSWORD,
                                     employee_no=employee_no[:32])
    key = hashlib.sha256(f"ihospital-e2e-rx-totp:{username}".encode()).hexdigest()[:40]
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="e2e", defaults={"key": key, "confirmed": True})
    return user, device


def _fresh() -> dict:
    """A session that confirmed the second factor just now (what a signed-in doctor's session holds)."""
    return {SECOND_FACTOR_AT: timezone.now().isoformat()}


def clinic(key: str, *, department: tuple[str, str, str], doctor: tuple[str, str, int],
           pharmacist: tuple[str, str]) -> tuple[Department, tuple[User, TOTPDevice], tuple[User, TOTPDevice]]:
    """A department of the home hospital, with a doctor who may consult online and has started today's
    consultations, and a pharmacist: ``department`` = (code prefix, Chinese, English), ``doctor`` = (prefix,
    name, years of practice), ``pharmacist`` = (prefix, name). Idempotent per ``key``."""
    facility = (
        Facility.objects.filter(kind=FacilityKind.HOME).first()
        or Facility.objects.create(code="demo-home", name_zh="汾河医科大学第一医院（演示）",
                                   name_en="First Hospital of Fenhe Medical University (demo)",
                                   kind=FacilityKind.HOME, city="太原")
    )
    code, name_zh, name_en = department
    dept, _ = Department.objects.get_or_create(
        facility=facility, code=f"e2e-{code}-{key}"[:32],
        defaults={"name_zh": name_zh, "name_en": name_en, "offers_online_visits": True},
    )
    prefix, name, years = doctor
    doctor_user, doctor_device = _staff(f"e2e.{code}.dr.{key}", name, Role.DOCTOR, f"E2E-{prefix}-{key}")
    practitioner = Practitioner.objects.filter(user=doctor_user).first()
    if practitioner is None:
        today = timezone.localdate()
        practitioner = directory.register_practitioner(
            user=doctor_user, facility=facility, profession="doctor",
            licence_no=f"{prefix[:2]}{_digits(key, 'lic', 10)}", title="chief",
            independent_practice_since=today.replace(year=today.year - years), departments=[dept],
        )
    prefix, name = pharmacist
    pharmacist_user = _staff(f"e2e.{code}.ph.{key}", name, Role.PHARMACIST, f"E2E-{prefix}-{key}")
    if not ConsultationDay.objects.filter(practitioner=practitioner, date=timezone.localdate()).exists():
        visits.start_consultation_day(actor=doctor_user, session=_fresh())
    return dept, (doctor_user, doctor_device), pharmacist_user


class Command(BaseCommand):
    help = "Create (idempotently) a doctor, a pharmacist, a refill that is due and a visit to prescribe in; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--key", default="e2e", help="names this fixture; the same key gives the same data")
        parser.add_argument("--sessions", action="store_true",
                            help="also create signed-in sessions (second factor included for staff)")
        parser.add_argument("--code", action="store_true",
                            help="only print a 6-digit code the doctor's device accepts now, as {\"code\": ...}")

    def handle(self, *args, key: str, sessions: bool, code: bool, **options):
        if not settings.DEMO_ENABLED:
            raise CommandError("Demo and test fixtures are disabled in production (IHOSPITAL_DEPLOYMENT=production).")
        if not key.replace("-", "").replace("_", "").isalnum() or len(key) > 16:
            raise CommandError("--key: letters, digits, - and _ only, at most 16 characters")
        if code:
            device = TOTPDevice.objects.filter(user__username=f"e2e.rx.dr.{key}").first()
            if device is None:
                raise CommandError("run the fixture first")
            self.stdout.write(json.dumps({"code": self._next_code(device)}))
            return

        formulary.load()
        amlodipine = Drug.objects.get(sku=AMLODIPINE)
        nifedipine = Drug.objects.get(sku=NIFEDIPINE)
        controlled = Drug.objects.filter(control_class="narcotic", active=True).order_by("sku").first()

        department, (doctor, doctor_device), (pharmacist, pharmacist_device) = clinic(
            key, department=("rx", "心血管内科", "Cardiology"), doctor=("RX", "陈志远", 15),
            pharmacist=("RXPH", "周敏"),
        )

        refill_patient = _patient(key, "refill", "张秀英", date(1956, 4, 12))
        visit_patient = _patient(key, "visit", "刘国强", date(1962, 11, 3))
        for patient in (refill_patient, visit_patient):
            self._diagnose(doctor, patient, department)
        if not MedicationStatement.objects.filter(patient=visit_patient).exists():
            records.add_medication(actor=doctor, patient_id=visit_patient.pk,
                                   medication=f"{nifedipine.generic_name_zh} {nifedipine.strength}", dose="30 mg",
                                   frequency="每日一次 qd", route="口服",
                                   started_on=timezone.localdate() - timedelta(days=90))

        root = self._due_refill(key, doctor, pharmacist, refill_patient, department, amlodipine)
        visit = self._visit(doctor, visit_patient, department)

        out = {
            "password": PASSWORD,
            "totp_secret": b32encode(doctor_device.bin_key).decode(),
            "refill_rx": {"id": root.pk, "number": root.number},
            "visit_id": visit.pk,
            "amlodipine": {"sku": amlodipine.sku, "zh": amlodipine.generic_name_zh, "search": "氨氯地平"},
            "on_chart": {"sku": nifedipine.sku, "zh": nifedipine.generic_name_zh},
            "controlled": {"sku": controlled.sku, "zh": controlled.generic_name_zh} if controlled else None,
        }
        people = {"doctor": (doctor, doctor_device), "pharmacist": (pharmacist, pharmacist_device),
                  "refill_patient": (refill_patient.user, None), "visit_patient": (visit_patient.user, None)}
        for role, (user, device) in people.items():
            out[role] = {"user_id": user.pk, "name": user.real_name,
                         "login": user.username if device else user.phone}
            if sessions:
                out[role]["session"] = self._session(user, device)
        self.stdout.write(json.dumps(out, ensure_ascii=False))

    # ---- the story ---------------------------------------------------------------------------------------------

    @staticmethod
    def _diagnose(doctor: User, patient: PatientProfile, department: Department) -> Condition:
        condition = Condition.objects.filter(patient=patient, code="I10", encounter__isnull=False).first()
        if condition is None:
            encounter = records.record_in_person_encounter(
                actor=doctor, mrn=patient.mrn, department_id=department.pk,
                started_at=timezone.now() - timedelta(days=120), reason="头晕、血压升高",
                summary="诊室血压 158/96 mmHg，诊断原发性高血压。",
            )
            condition = records.add_condition(actor=doctor, patient_id=patient.pk, code="I10",
                                              encounter_id=encounter.pk, chronic=True,
                                              onset_date=timezone.localdate() - timedelta(days=5 * 365))
        return condition

    @staticmethod
    def _visit(doctor: User, patient: PatientProfile, department: Department) -> Visit:
        """The patient's online visit, taken from the queue and started (the diagnosis on the chart: accepted)."""
        visit = Visit.objects.filter(patient=patient, department=department, status__in=ACTIVE_STATUSES).first()
        if visit is None:
            condition = Condition.objects.filter(patient=patient, code="I10").first()
            visit = visits.request_visit(
                online_care_consent=True, actor=patient.user, patient_id=patient.pk, department_id=department.pk,
                complaint="血压平稳，想继续开降压药。", condition_id=condition.pk, mode="text",
            )
        if visit.status == VisitStatus.REQUESTED:
            taken = visits.take_next_from_queue(actor=doctor, department_id=department.pk)
            if taken.pk != visit.pk:
                raise CommandError(f"the doctor took visit {taken.pk} from the queue, not {visit.pk}")
            visit = taken
        if visit.status == VisitStatus.ACCEPTED:
            visit = visits.start_visit(actor=doctor, visit_id=visit.pk)
        return visit

    def _due_refill(self, key: str, doctor: User, pharmacist: User, patient: PatientProfile,
                    department: Department, drug: Drug) -> Prescription:
        root = Prescription.objects.filter(patient=patient, renewal_of__isnull=True, refills_allowed__gt=0).exclude(
            status__in=[RxStatus.DRAFT, RxStatus.CANCELLED]).first()
        if root is not None:
            return root
        visit = self._visit(doctor, patient, department)
        rx = services.start_prescription(actor=doctor, visit_id=visit.pk, kind="chronic", refills_allowed=3,
                                         notes="低盐饮食，每天早晨测血压并记录。")
        services.add_item(actor=doctor, prescription_id=rx.pk, drug_id=drug.pk, dose="5", frequency="qd",
                          duration_days=28, instructions="早餐后服用")
        services.sign_prescription(actor=doctor, prescription_id=rx.pk, session=_fresh())
        reviewing.review_prescription(actor=pharmacist, prescription_id=rx.pk, approve=True)
        services.mark_dispensed(actor=pharmacist, prescription_id=rx.pk)
        self._move_back(rx.pk, days=SIGNED_DAYS_AGO)
        return Prescription.objects.get(pk=rx.pk)

    @staticmethod
    @transaction.atomic
    def _move_back(rx_id: int, *, days: int) -> None:
        """Move the prescription's dates back and seal it again over the moved dates (fixture data only)."""
        delta = timedelta(days=days)
        rx = Prescription.objects.select_related("doctor__user", "patient__user").get(pk=rx_id)
        Prescription.objects.filter(pk=rx_id).update(
            created_at=rx.created_at - delta, signed_at=rx.signed_at - delta, valid_until=rx.valid_until - delta,
            reviewed_at=rx.reviewed_at - delta, dispensed_at=rx.dispensed_at - delta,
        )
        rx.refresh_from_db()
        content_hash = services.hash_content(rx)
        Prescription.objects.filter(pk=rx_id).update(
            content_hash=content_hash, doctor_seal=services.seal_of_doctor(rx, content_hash),
        )
        review = Review.objects.get(prescription_id=rx_id)
        review.created_at -= delta
        Review.objects.filter(pk=review.pk).update(
            created_at=review.created_at, seal=services.seal_of_review(review, content_hash),
        )

    # ---- sign-in helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _next_code(device: TOTPDevice) -> str:
        """A code the device accepts now: a code is good once, so after one was used in this 30-second step take
        the next step's (within the device's tolerance), or wait for the next step."""
        device.refresh_from_db()
        for _attempt in range(3):
            clock = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
            clock.time = time.time()
            offset = max(0, device.last_t + 1 - clock.t())
            if offset <= device.tolerance:
                clock = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + offset)
                clock.time = time.time()
                return f"{clock.token():0{device.digits}d}"
            time.sleep(device.step - (clock.time - device.t0) % device.step + 0.1)
        raise CommandError("no usable TOTP code; try again in a minute")

    @staticmethod
    def _session(user: User, device: TOTPDevice | None) -> str:
        """A signed-in session, as our login leaves it (for staff, with the second factor verified, but not
        "moments ago": signing asks for a code)."""
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store[LAST_SEEN] = int(timezone.now().timestamp())
        if device is not None:
            store["otp_device_id"] = device.persistent_id
        store.create()
        return store.session_key
