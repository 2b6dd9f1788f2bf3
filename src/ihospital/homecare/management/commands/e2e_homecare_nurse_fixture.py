"""Set up the nurse's home visit and the security console for browser tests and demos, and print what is needed
to drive them, as JSON.

Made through the services (catalogue loader, registration, the in-person encounter that puts the patient's record
at the hospital, booking, the nurse's assessment, the dispatcher's shift and assignment); the home-care nurse's
profile (skills, start point, work phone) is back-office data, as the admin site enters it:

- a 72-year-old patient whose wound-dressing request was booked, assessed and accepted, and is **scheduled today**
  with the nurse (booking starts tomorrow, so the request's day is moved to today after booking, as a dispatcher's
  same-day change would);
- the home-care nurse (主管护师, 12 years, wound care) with a shift today;
- a hospital security officer;
- with ``--sessions``: signed-in sessions (second factor verified) for the nurse and the security officer.

Running again with the same ``--key`` creates nothing new (the sessions are new each time). Refuses unless demo
shortcuts are allowed (never in production): it prints sessions.

    manage.py e2e_homecare_nurse_fixture --key journey --sessions
"""

from __future__ import annotations

import json
from datetime import time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.directory.models import Department, Title
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import PASSWORD, _patient, _staff
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import Command as RxFixture
from ihospital.records import services as records
from ihospital.records.models import Encounter

from ... import assessing, booking, dispatch
from ...models import NurseVisit, NursingRequest, RequestStatus, Shift
from .. import e2e

SERVICE = "wound_dressing"
# Each key's nurse has a name of her own, so that a console showing several keys' alarms tells them apart.
NURSES = {"journey": "李红梅", "alarm": "王秀英", "noloc": "刘静", "offline": "陈玉兰"}
ADDRESS = "太原市迎泽区双塔寺社区"
ADDRESS_DETAIL = "5号楼1单元302室"



class Command(BaseCommand):
    help = "Create (idempotently) a home visit scheduled today with its nurse, and a security officer; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--key", default="e2e", help="names this fixture; the same key gives the same data")
        parser.add_argument("--sessions", action="store_true",
                            help="also create signed-in sessions (second factor verified) for the nurse and security")

    def handle(self, *args, key: str, sessions: bool, **options):
        e2e.start(key)

        department = e2e.department("e2e-hc-nursing", "护理部（居家护理）", "Nursing (home care)")
        doctor = e2e.clinician(key, scope="hcn", prefix="dr", name="陈立新", role=Role.DOCTOR, profession="doctor",
                               title=Title.CHIEF, years=18, dept=department)[0]
        nurse, nurse_device = e2e.clinician(key, scope="hcn", prefix="nu", name=NURSES.get(key, "李红梅"),
                                            role=Role.NURSE, profession="nurse", title=Title.SUPERVISOR_NURSE,
                                            years=12, dept=department)
        profile = e2e.nurse_profile(key, nurse, skills=["wound_ostomy"])
        guard, guard_device = _staff(f"e2e.hcn.sec.{key}", "周保国", Role.SECURITY, f"E2E-HCNSEC-{key}")
        dispatcher = _staff(f"e2e.hcn.disp.{key}", "孙晓燕", Role.DISPATCHER, f"E2E-HCNDS-{key}")[0]
        patient = _patient(key, "homecare-nurse", "赵桂兰", e2e.years_ago(72, 5, 18))
        self._record_here(doctor, patient, department)
        visit = self._visit_today(patient, nurse, dispatcher)
        req = visit.request

        out = {
            "password": PASSWORD,
            "visit": {"id": visit.pk, "number": req.number, "service": req.service.name_zh,
                      "address": req.address, "address_detail": req.address_detail,
                      "latitude": req.latitude, "longitude": req.longitude,
                      "planned_start": timezone.localtime(visit.planned_start).strftime("%H:%M")},
            "patient": {"id": patient.pk, "name": patient.real_name, "phone": req.contact_phone},
            "nurse": {"user_id": nurse.pk, "name": nurse.real_name, "login": nurse.username, "phone": profile.phone},
            "security": {"user_id": guard.pk, "name": guard.real_name, "login": guard.username},
            "security_phone": settings.HOMECARE_SECURITY_PHONE,
        }
        if sessions:
            out["nurse"]["session"] = RxFixture._session(nurse, nurse_device)
            out["security"]["session"] = RxFixture._session(guard, guard_device)
        self.stdout.write(json.dumps(out, ensure_ascii=False))

    # ---- the people --------------------------------------------------------------------------------------------

    @staticmethod
    def _record_here(doctor: User, patient: PatientProfile, department: Department) -> None:
        """An outpatient visit at this hospital last month: home nursing is for patients with a record here."""
        if Encounter.objects.filter(patient=patient, facility=department.facility).exists():
            return
        records.record_in_person_encounter(
            actor=doctor, mrn=patient.mrn, department_id=department.pk,
            started_at=timezone.now() - timedelta(days=30), reason="左小腿慢性溃疡复诊",
            summary="左小腿内侧静脉性溃疡 3×2 cm，基底红润，少量渗液；建议居家换药，每周两次。")

    # ---- the visit ----------------------------------------------------------------------------------------------

    @staticmethod
    def _visit_today(patient: PatientProfile, nurse: User, dispatcher: User) -> NurseVisit:
        today = timezone.localdate()
        existing = NurseVisit.objects.filter(request__patient=patient, day=today).select_related(
            "request__service").first()
        if existing is not None:
            return existing
        req = NursingRequest.objects.filter(patient=patient, status=RequestStatus.REQUESTED).first()
        if req is None:
            req = booking.request_visit(
                actor=patient.user, patient_id=patient.pk, service_code=SERVICE, group="elderly", address=ADDRESS,
                address_detail=ADDRESS_DETAIL, preferred_date=today + timedelta(days=1), window_start="09:00",
                window_end="12:00", contact_name=patient.real_name, contact_phone=patient.user.phone, consent=True,
                condition_note="左小腿伤口换药，家中有小狗，请敲门后稍等。")
        assessing.claim(actor=nurse, request_id=req.pk)
        assessing.decide(actor=nurse, request_id=req.pk, accept=True, risk="low", home_suitable=True,
                         eligibility_confirmed=True, notes="电话评估：伤口无感染迹象，家属可协助。")
        # Booking starts tomorrow; the dispatcher moves this one to today (a same-day slot opened).
        NursingRequest.objects.filter(pk=req.pk).update(preferred_date=today, window_start=time(0, 0),
                                                         window_end=time(23, 0))
        if not Shift.objects.filter(nurse=nurse, day=today).exists():
            dispatch.set_shift(actor=dispatcher, nurse_id=nurse.pk, day=today, starts="00:00", ends="23:59")
        start = f"{max(timezone.localtime().hour - 1, 0):02d}:00"
        return dispatch.assign(actor=dispatcher, request_id=req.pk, nurse_id=nurse.pk, start=start)
