"""Set up the patient's home nursing journey for browser tests and demos, and print what is needed to drive it, as
JSON. The story is the issue's: a 68-year-old man paralysed from the waist down (paraplegia, diagnosed in person at
this hospital: his record is here) whose daughter, his registered proxy, books home nursing for him on her phone.

Made through the services (catalogue loader, registration, the in-person encounter and diagnosis, the proxy
invitation with consent, the discharge summary upload, practitioner registration, API tokens); the home-care
nurse's profile (skills, start point, work phone) is back-office data, as the admin site enters it:

- the father (``patient``) and the daughter (``relative``), both with a password (``--sessions`` also prints
  signed-in sessions);
- a home-care nurse (主管护师, 12 years, wound and ostomy skills) and a dispatcher, each with an API token
  (second factor confirmed), so that a test can assess, accept and schedule the request *through the server*
  (``/api/homecare/...``), whose live events then reach the open pages;
- a discharge summary in the father's chart, to be chosen on the booking form.

Running again with the same ``--key`` creates nothing new (the tokens are new each time). Refuses unless demo
shortcuts are allowed (never in production): it prints sessions and tokens.

    manage.py e2e_homecare_patient_fixture --key journey --sessions
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.utils import timezone

from ihospital.accounts import services as accounts
from ihospital.accounts.models import PatientProfile, Proxy, Role, User
from ihospital.directory.models import Department, Title
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import PASSWORD, _patient, _staff
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import Command as RxFixture
from ihospital.records import services as records
from ihospital.records.models import Condition, Document, DocumentKind

from ...geocoding import AddressBook
from .. import e2e

PARAPLEGIA = "G82.2"
ADDRESS = "太原市迎泽区双塔寺社区"
ADDRESS_DETAIL = "3号楼2单元501室"
# A one-page PDF: what a scanned discharge summary is, for the file store.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"



class Command(BaseCommand):
    help = "Create (idempotently) the home nursing journey's people and chart; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--key", default="e2e", help="names this fixture; the same key gives the same data")
        parser.add_argument("--sessions", action="store_true",
                            help="also create signed-in sessions for the relative and the patient")

    def handle(self, *args, key: str, sessions: bool, **options):
        e2e.start(key)

        department = e2e.department(f"e2e-hc-{key}", "康复医学科", "Rehabilitation")
        doctor = e2e.clinician(key, scope="hc", prefix="dr", name="刘振华", role=Role.DOCTOR, profession="doctor",
                               title=Title.CHIEF, years=20, dept=department)[0]
        nurse = e2e.clinician(key, scope="hc", prefix="nurse", name="王芳", role=Role.NURSE, profession="nurse",
                              title=Title.SUPERVISOR_NURSE, years=12, dept=department)[0]
        e2e.nurse_profile(key, nurse, skills=["wound_ostomy", "picc"])
        dispatcher = _staff(f"e2e.hc.disp.{key}", "赵敏", Role.DISPATCHER, f"E2E-HCDS-{key}")[0]

        father = _patient(key, "homecare-father", "张建国", e2e.years_ago(68, 3, 14))
        daughter = _patient(key, "homecare-daughter", "张丽", e2e.years_ago(41, 8, 2))
        self._chart(doctor, father, department)
        self._proxy(father, daughter)
        summary = self._discharge_summary(father)

        out = {
            "password": PASSWORD,
            "patient": {"id": father.pk, "user_id": father.user_id, "name": father.real_name, "mrn": father.mrn,
                        "age": father.age(), "login": father.user.phone},
            "relative": {"user_id": daughter.user_id, "name": daughter.real_name, "login": daughter.user.phone},
            "nurse": {"user_id": nurse.pk, "name": nurse.real_name, "title_zh": "主管护师",
                      "token": accounts.issue_api_token(user=nurse, otp_verified=True, name=f"e2e-{key}")},
            "dispatcher": {"user_id": dispatcher.pk, "name": dispatcher.real_name,
                           "token": accounts.issue_api_token(user=dispatcher, otp_verified=True, name=f"e2e-{key}")},
            "address": ADDRESS, "address_detail": ADDRESS_DETAIL,
            "address_label": AddressBook().geocode(ADDRESS).label,
            "document": {"id": summary.pk, "title": summary.title},
            "tomorrow": (timezone.localdate() + timedelta(days=1)).isoformat(),
        }
        if sessions:
            out["relative"]["session"] = RxFixture._session(daughter.user, None)
            out["patient"]["session"] = RxFixture._session(father.user, None)
        self.stdout.write(json.dumps(out, ensure_ascii=False))

    # ---- the people ----------------------------------------------------------------------------------------------

    # ---- the father's record, and his daughter ---------------------------------------------------------------------

    @staticmethod
    def _chart(doctor: User, father: PatientProfile, department: Department) -> None:
        if Condition.objects.filter(patient=father, code=PARAPLEGIA, encounter__isnull=False).exists():
            return
        encounter = records.record_in_person_encounter(
            actor=doctor, mrn=father.mrn, department_id=department.pk,
            started_at=timezone.now() - timedelta(days=40), reason="腰椎外伤后双下肢瘫痪复查",
            summary="胸腰段脊髓损伤后截瘫 3 年，长期卧床，骶尾部 II 期压疮，家属护理。")
        records.add_condition(actor=doctor, patient_id=father.pk, code=PARAPLEGIA, encounter_id=encounter.pk,
                              chronic=True, onset_date=timezone.localdate() - timedelta(days=3 * 365))

    @staticmethod
    def _proxy(father: PatientProfile, daughter: PatientProfile) -> None:
        if Proxy.objects.filter(patient=father, proxy_user=daughter.user).exists():
            return
        accounts.invite_proxy(patient_user=father.user, proxy_phone=daughter.user.phone,
                              proxy_real_name=daughter.real_name, relationship="child", consent=True)

    @staticmethod
    def _discharge_summary(father: PatientProfile) -> Document:
        existing = Document.objects.filter(patient=father, kind=DocumentKind.DISCHARGE_SUMMARY).first()
        if existing is not None:
            return existing
        return records.upload_document(actor=father.user, patient_id=father.pk, kind=DocumentKind.DISCHARGE_SUMMARY,
                                       title="出院小结（骨科）", file=ContentFile(PDF, name="discharge.pdf"))
