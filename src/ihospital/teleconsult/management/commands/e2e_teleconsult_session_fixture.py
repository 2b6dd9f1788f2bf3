"""Set up one consultation under review with a live session starting now, for browser tests and demos of the
video mesh, and print what is needed to drive it, as JSON: a referring doctor at a partner hospital, two experts
of the home hospital (lead and member, both accepted), the patient (who consented), two document attachments,
and signed-in sessions (staff with the second factor).

The request is written in its state directly (the request and triage services have their own journeys); the
session is scheduled through ``sessions.schedule_session``. Running it again with the same ``--key`` creates
nothing new. Refuses unless demo shortcuts are allowed (never in production): it prints sign-in sessions.

    manage.py e2e_teleconsult_session_fixture --key video --sessions
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.accounts import services as accounts
from ihospital.accounts.models import Consent, ConsentKind, Role, User
from ihospital.directory import services as directory
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner
from ihospital.records import services as records
from ihospital.records.models import CareRelationship, CareSource, DocumentKind
from ihospital.teleconsult import sessions as session_services
from ihospital.teleconsult.models import (
    Assignment,
    AssignmentRole,
    Attachment,
    AttachmentKind,
    ConsultRequest,
    ConsultSession,
    SessionStatus,
    Status,
)
from ihospital.web.demo import story
from ihospital.web.management.commands.e2e_visit_fixture import PASSWORD, _patient, _png, _totp_key
from ihospital.web.management.commands.e2e_visit_fixture import Command as VisitFixture
from ihospital.web.management.commands.e2e_visit_fixture import _digits as _visit_digits


def _digits(key: str, salt: str) -> str:
    return _visit_digits(key, salt, 8)


class Command(BaseCommand):
    help = "Create (idempotently) a consultation with a live session and its three doctors; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--key", default="video", help="names this fixture; the same key gives the same session")
        parser.add_argument("--sessions", action="store_true", help="also create signed-in sessions")

    def handle(self, *args, key: str, sessions: bool, **options):
        if not settings.DEMO_ENABLED:
            raise CommandError("Demo and test fixtures are disabled in production (IHOSPITAL_DEPLOYMENT=production).")
        if not key.replace("-", "").replace("_", "").isalnum() or len(key) > 16:
            raise CommandError("--key: letters, digits, - and _ only, at most 16 characters")

        home = (Facility.objects.filter(code="demo-home").first()
                or Facility.objects.filter(kind=FacilityKind.HOME).first()
                or Facility.objects.create(code="demo-home", **story.FACILITIES["home"]))
        partner, _ = Facility.objects.get_or_create(
            code=f"e2e-tc-{key}"[:32],
            defaults={"kind": FacilityKind.PARTNER, "name_zh": "长治县人民医院", "name_en": "Changzhi County Hospital",
                      "level": "二级甲等"})
        cardiology, _ = Department.objects.get_or_create(
            facility=home, code=f"e2e-tc-{key}"[:32], defaults={"name_zh": "心血管内科", "name_en": "Cardiology"})
        partner_dept, _ = Department.objects.get_or_create(
            facility=partner, code=f"e2e-tc-{key}-im"[:32],
            defaults={"name_zh": "内科", "name_en": "Internal medicine"})

        referrer, ref_device = self._doctor(f"e2e.tc.ref.{key}", "陈立新", partner, partner_dept, "attending")
        lead, lead_device = self._doctor(f"e2e.tc.lead.{key}", "王建国", home, cardiology, "chief")
        member, member_device = self._doctor(f"e2e.tc.mem.{key}", "郭文华", home, cardiology, "assoc_chief")

        patient = _patient(f"tc{key}", "patient", "李建华", date(1958, 3, 14))
        CareRelationship.objects.get_or_create(
            patient=patient, clinician=referrer, source=CareSource.MANUAL, source_id=f"e2e-tc-{key}",
            defaults={"starts_at": timezone.now() - timedelta(days=3)})

        request = ConsultRequest.objects.filter(patient=patient, referring_doctor=referrer).first()
        if request is None:
            consent = Consent.objects.create(patient=patient, kind=ConsentKind.RECORD_SHARING, version="2026-11",
                                             given_by=patient.user)
            request = ConsultRequest.objects.create(
                number=f"TC-E2E-{key}"[:24], patient=patient, referring_doctor=referrer, referring_facility=partner,
                question="冠脉狭窄是否需要介入治疗？", summary="男，68岁，反复胸闷3月，心电图ST段压低。",
                urgency="urgent", mode="live", department=cardiology, status=Status.IN_REVIEW, consent=consent,
                submitted_at=timezone.now() - timedelta(hours=2), first_response_at=timezone.now() - timedelta(hours=1),
            )
            consent.subject = f"consult:{request.pk}"
            consent.save(update_fields=["subject"])
            for expert, role in ((lead, AssignmentRole.LEAD), (member, AssignmentRole.MEMBER)):
                Assignment.objects.create(request=request, expert=expert, role=role, assigned_by=lead,
                                          accepted_at=timezone.now())
            for title in ("出院小结", "冠脉CTA报告"):
                document = records.upload_document(
                    actor=referrer, patient_id=patient.pk, kind=DocumentKind.OUTPATIENT_RECORD, title=title,
                    file=SimpleUploadedFile("record.png", _png(), content_type="image/png"))
                Attachment.objects.create(request=request, kind=AttachmentKind.DOCUMENT, document=document,
                                          added_by=referrer)

        session = request.sessions.filter(status__in=(SessionStatus.SCHEDULED, SessionStatus.LIVE)).first()
        if session is None:
            session = session_services.schedule_session(actor=lead, request_id=request.pk,
                                                        starts_at=timezone.now() + timedelta(minutes=2), minutes=30)
        session = ConsultSession.objects.get(pk=session.pk)

        people = {"referrer": (referrer, ref_device), "lead": (lead, lead_device), "member": (member, member_device),
                  "patient": (patient.user, None)}
        out = {
            "session_id": session.pk,
            "request_id": request.pk,
            "status": session.status,
            "attachments": [{"id": a.pk, "title": a.document.title}
                            for a in request.attachments.filter(removed_at__isnull=True).select_related("document")],
            "password": PASSWORD,
        }
        for role, (user, device) in people.items():
            out[role] = {"user_id": user.pk, "name": user.real_name, "login": user.username}
            if sessions:
                out[role]["session"] = VisitFixture._session(user, device)
        self.stdout.write(json.dumps(out, ensure_ascii=False))

    @staticmethod
    def _doctor(username: str, name: str, facility, department, title: str) -> tuple[User, TOTPDevice]:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = accounts.create_staff(username=username, real_name=name, role=Role.DOCTOR, password=PASSWORD,
                                         employee_no=f"E2E-{_digits(username, 'emp')}")
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="e2e", defaults={"key": _totp_key(username), "confirmed": True})
        if not Practitioner.objects.filter(user=user).exists():
            today = timezone.localdate()
            directory.register_practitioner(
                user=user, facility=facility, profession="doctor", licence_no=f"E2ETC{_digits(username, 'lic')}",
                title=title, independent_practice_since=today.replace(year=today.year - 15),
                departments=[department])
        return user, device
