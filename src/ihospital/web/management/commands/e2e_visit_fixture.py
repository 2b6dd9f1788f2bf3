"""Set up one online visit for browser tests and demos, and print what is needed to drive it, as JSON.

Everything goes through the services (registration, the in-person diagnosis, the proxy, the doctor's day,
the request from the queue and the doctor taking it), so the fixture obeys the same rules as real use. Running
it again with the same ``--key`` creates nothing new and prints the same visit. Refuses unless demo shortcuts
are allowed (never in production): it can print sign-in sessions and a TOTP secret.

    manage.py e2e_visit_fixture --key chat --mode text --state in_progress --sessions
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import zlib
from base64 import b32encode
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.module_loading import import_string
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from stdnum.cn import ric

from ihospital.accounts import services as accounts
from ihospital.accounts.middleware import LAST_SEEN
from ihospital.accounts.models import PatientProfile, ProxyStatus, Role, User
from ihospital.directory import services as directory
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner
from ihospital.records import services as records
from ihospital.records.models import Allergy, Condition, Document, DocumentKind, MedicationStatement
from ihospital.visits import services
from ihospital.visits.models import ACTIVE_STATUSES, ConsultationDay, Visit, VisitStatus
from ihospital.web.demo import story

PASSWORD = "E2e-visit-2026!"


def _digits(key: str, salt: str, n: int) -> str:
    number = int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest(), 16)
    return str(number % 10**n).zfill(n)


def _resident_id(key: str, salt: str, birth: date) -> str:
    body = f"140105{birth:%Y%m%d}{_digits(key, salt, 3)}"
    return body + ric.calc_check_digit(body + "0")


def _mobile(key: str, salt: str) -> str:
    return "139" + _digits(key, salt, 8)


def _patient(key: str, salt: str, name: str, birth: date) -> PatientProfile:
    rid = _resident_id(key, salt, birth)
    existing = PatientProfile.objects.select_related("user").filter(resident_id=rid).first()
    if existing:
        return existing
    return accounts.register_patient(real_name=name, resident_id=rid, phone=_mobile(key, salt), password=PASSWORD,
                                     health_data_consent=True)


def _png() -> bytes:
    """A real 1x1 PNG, made by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(
        b"IEND", b""
    )


def _totp_key(username: str) -> str:
    return hashlib.sha256(f"ihospital-e2e-totp:{username}".encode()).hexdigest()[:40]


class Command(BaseCommand):
    help = "Create (idempotently) a doctor, a patient with an in-person diagnosis, a proxy and a visit; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--key", default="e2e", help="names this fixture; the same key gives the same visit")
        parser.add_argument("--mode", choices=["text", "video"], default="text")
        parser.add_argument("--state", choices=["requested", "accepted", "in_progress"], default="accepted",
                            help="requested: waiting in the queue; accepted: taken by the doctor (with --basis "
                                 "document: taken, the record still to review); in_progress: started")
        parser.add_argument("--basis", choices=["condition", "document"], default="condition",
                            help="the follow-up basis: an in-person diagnosis (I10), or an uploaded outpatient record")
        parser.add_argument("--department", default="",
                            help="join the queue of another fixture's department (its --key), e.g. to queue behind it")
        parser.add_argument("--sessions", action="store_true",
                            help="also create signed-in sessions (second factor included for the doctor)")
        parser.add_argument("--without-day", action="store_true",
                            help="leave the doctor without today's confirmed code (to see the daily sign-in asked for)")

    def handle(self, *args, key: str, mode: str, state: str, sessions: bool, without_day: bool, basis: str,
               department: str, **options):
        if not settings.DEMO_ENABLED:
            raise CommandError("Demo and test fixtures are disabled in production (IHOSPITAL_DEPLOYMENT=production).")
        for value in (key, department or key):
            if not value.replace("-", "").replace("_", "").isalnum() or len(value) > 20:
                raise CommandError("--key, --department: letters, digits, - and _ only, at most 20 characters")

        # The one home hospital: the demo's (seed_demo, run before or after, finds the same one), or whichever
        # the database already has.
        facility = (
            Facility.objects.filter(code="demo-home").first()
            or Facility.objects.filter(kind=FacilityKind.HOME).first()
            or Facility.objects.create(code="demo-home", **story.FACILITIES["home"])
        )
        department, _ = Department.objects.get_or_create(
            facility=facility, code=f"e2e-{department or key}"[:32],
            defaults={"name_zh": "心血管内科", "name_en": "Cardiology", "offers_online_visits": True},
        )

        # The doctor: 12 years of practice, verified licence, TOTP.
        username = f"e2e.dr.{key}"
        doctor = User.objects.filter(username=username).first()
        if doctor is None:
            doctor = accounts.create_staff(username=username, real_name="王建国", role=Role.DOCTOR, password=PASSWORD,
                                           employee_no=f"E2E-{key}"[:32])
        device, _ = TOTPDevice.objects.get_or_create(
            user=doctor, name="e2e", defaults={"key": _totp_key(username), "confirmed": True}
        )
        practitioner = Practitioner.objects.filter(user=doctor).first()
        if practitioner is None:
            today = timezone.localdate()
            practitioner = directory.register_practitioner(
                user=doctor, facility=facility, profession="doctor", licence_no=f"E2E{_digits(key, 'lic', 10)}",
                title="chief", independent_practice_since=today.replace(year=today.year - 12),
                departments=[department],
            )

        # The patient, diagnosed in person (hypertension, I10), with a medicine and an allergy on the chart; or,
        # with --basis document, with only an outpatient record from elsewhere for the doctor to review.
        patient = _patient(key, "patient", "李建华", date(1968, 3, 14))
        condition = Condition.objects.filter(patient=patient, code="I10", encounter__isnull=False).first()
        document = None
        if basis == "document":
            condition = None
            document = Document.objects.filter(patient=patient, kind=DocumentKind.OUTPATIENT_RECORD).first()
            if document is None:
                document = records.upload_document(
                    actor=patient.user, patient_id=patient.pk, kind=DocumentKind.OUTPATIENT_RECORD,
                    title="长治市人民医院门诊病历",
                    file=SimpleUploadedFile("outpatient.png", _png(), content_type="image/png"),
                )
        elif condition is None:
            encounter = records.record_in_person_encounter(
                actor=doctor, mrn=patient.mrn, department_id=department.pk,
                started_at=timezone.now() - timedelta(days=40), reason="头晕、血压升高",
                summary="诊室血压 162/98 mmHg，诊断原发性高血压 2 级。",
            )
            condition = records.add_condition(
                actor=doctor, patient_id=patient.pk, code="I10", encounter_id=encounter.pk, chronic=True,
                onset_date=timezone.localdate() - timedelta(days=3 * 365),
            )
        if condition is not None and not MedicationStatement.objects.filter(patient=patient).exists():
            records.add_medication(actor=doctor, patient_id=patient.pk, medication="氨氯地平片 Amlodipine",
                                   dose="5 mg", frequency="每日一次 qd", route="口服 po",
                                   started_on=timezone.localdate() - timedelta(days=40))
        if not Allergy.objects.filter(patient=patient).exists():
            records.add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素 Penicillin",
                                reaction="皮疹 rash")

        # A daughter who acts for him, and a stranger who has nothing to do with the visit.
        relative = _patient(key, "proxy", "李娟", date(1992, 9, 20))
        if not patient.proxies.filter(proxy_user=relative.user, status=ProxyStatus.ACTIVE).exists():
            accounts.invite_proxy(patient_user=patient.user, proxy_phone=relative.user.phone,
                                  proxy_real_name=relative.user.real_name, relationship="child", consent=True)
        stranger = _patient(key, "stranger", "赵桂兰", date(1975, 5, 5))

        # The doctor's day (second factor confirmed today).
        if not ConsultationDay.objects.filter(practitioner=practitioner, date=timezone.localdate()).exists():
            services.start_consultation_day(actor=doctor, code=self._next_code(device))

        # The visit: asked for in the department's queue, taken by the doctor (accepted), maybe started.
        visit = Visit.objects.filter(patient=patient, department=department, status__in=ACTIVE_STATUSES).first()
        if visit is None:
            visit = services.request_visit(
                online_care_consent=True,
                actor=patient.user, patient_id=patient.pk, complaint="最近一周血压 150/95 左右，想调整用药。",
                condition_id=condition.pk if condition else None, document_id=document.pk if document else None,
                department_id=department.pk, mode=mode,
            )
        if state != "requested" and visit.status == VisitStatus.REQUESTED and visit.doctor_id is None:
            taken = services.take_next_from_queue(actor=doctor, department_id=department.pk)
            if taken.pk != visit.pk:
                raise CommandError(f"the doctor took visit {taken.pk} from the queue, not {visit.pk}")
            visit = taken
        if state == "in_progress" and visit.status == VisitStatus.ACCEPTED:
            visit = services.start_visit(actor=doctor, visit_id=visit.pk)

        if without_day:
            ConsultationDay.objects.filter(practitioner=practitioner, date=timezone.localdate()).delete()

        people = {"doctor": doctor, "patient": patient.user, "proxy": relative.user, "stranger": stranger.user}
        out = {
            "visit_id": visit.pk,
            "status": visit.status,
            "mode": visit.mode,
            "department_id": department.pk,
            "patient_id": patient.pk,
            "password": PASSWORD,
            "session_cookie": settings.SESSION_COOKIE_NAME,
            "totp_secret": b32encode(device.bin_key).decode(),
        }
        for role, user in people.items():
            out[role] = {"user_id": user.pk, "login": user.username if role == "doctor" else user.phone,
                         "name": user.real_name}
            if sessions:
                out[role]["session"] = self._session(user, device if role == "doctor" else None)
        self.stdout.write(json.dumps(out, ensure_ascii=False))

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
        """A signed-in session, as our login leaves it (for staff, with the second factor verified)."""
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store[LAST_SEEN] = int(timezone.now().timestamp())
        if device is not None:
            store["otp_device_id"] = device.persistent_id
        store.create()
        return store.session_key
