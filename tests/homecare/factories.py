"""Factories of the home-nursing tests: home-care nurses with skills and a start point, eligible patients,
shifts, and helpers that walk a request through the workflow (``booked``, ``accepted``, ``scheduled``,
``in_service``, ``completed``) with the real services."""

from __future__ import annotations

from datetime import date, time, timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ihospital.accounts.models import Role
from ihospital.directory.models import Title
from ihospital.homecare import assessing, booking, catalogue, dispatch, visiting
from ihospital.homecare.models import NurseProfile, NursingService, Shift
from ihospital.records.models import EncounterMode
from tests.factories import NurseFactory, PatientFactory, StaffUserFactory
from tests.visits.factories import EncounterFactory

# The hospital in the built-in settings, and addresses the address book knows, a few km from it.
HOSPITAL = (37.8570, 112.5590)
ADDRESS = "太原市迎泽区双塔寺社区3号楼"  # 双塔寺社区 (37.8560, 112.5700)
ADDRESS_LATLNG = (37.8560, 112.5700)
FAR_ADDRESS = "太原市万柏林区漪汾苑"


def load_catalogue() -> None:
    if not NursingService.objects.exists():
        catalogue.load()


def service(code: str = "wound_dressing") -> NursingService:
    load_catalogue()
    return NursingService.objects.get(code=code)


class NurseProfileFactory(DjangoModelFactory):
    class Meta:
        model = NurseProfile

    user = factory.SubFactory(StaffUserFactory, role=Role.NURSE)
    skills = factory.LazyFunction(lambda: ["wound_ostomy", "picc"])
    base_label = "医院"
    base_latitude = HOSPITAL[0]
    base_longitude = HOSPITAL[1]
    phone = factory.Sequence(lambda n: f"139{n:08d}")


def home_nurse(*, title: str = Title.SUPERVISOR_NURSE, years: int = 10, skills=("wound_ostomy", "picc"),
               base=HOSPITAL):
    """A verified nurse with ``years`` of practice and the home-care profile (skills, start point)."""
    practitioner = NurseFactory(title=title, independent_practice_since=timezone.localdate() - timedelta(
        days=int(365.25 * years) + 2))
    NurseProfileFactory(user=practitioner.user, skills=list(skills), base_latitude=base[0], base_longitude=base[1])
    return practitioner.user


def dispatcher():
    return StaffUserFactory(role=Role.DISPATCHER)


def eligible_patient(*, age: int = 70, sex: str = "M", **kw):
    """A patient of ``age`` with an in-person visit at the home hospital last month (a record here)."""
    today = timezone.localdate()
    birth = date(today.year - age, 1, 1) if age else today - timedelta(days=30)
    patient = PatientFactory(birth_date=birth, sex_=sex, **kw)
    EncounterFactory(patient=patient)
    return patient


def discharged(patient, days_ago: int = 5):
    end = timezone.now() - timedelta(days=days_ago)
    return EncounterFactory(patient=patient, mode=EncounterMode.INPATIENT, started_at=end - timedelta(days=7),
                            ended_at=end)


def tomorrow() -> date:
    return timezone.localdate() + timedelta(days=1)


def booked(patient, *, code: str = "wound_dressing", group: str = "elderly", day: date | None = None,
           window=("09:00", "12:00"), actor=None, address: str = ADDRESS, **kw):
    load_catalogue()
    return booking.request_visit(
        actor=actor or patient.user, patient_id=patient.pk, service_code=code, group=group, address=address,
        preferred_date=day or tomorrow(), window_start=window[0], window_end=window[1],
        contact_name=patient.real_name, contact_phone=patient.user.phone, consent=True, **kw)


def accepted(req, nurse, **kw):
    assessing.claim(actor=nurse, request_id=req.pk)
    defaults = {"risk": "low", "home_suitable": True, "eligibility_confirmed": True,
                "notes": "医嘱已核对：王医生 11-20"}
    assessing.decide(actor=nurse, request_id=req.pk, accept=True, **(defaults | kw))
    req.refresh_from_db()
    return req


def shift(nurse, day: date, starts: str = "08:00", ends: str = "17:00", by=None):
    return dispatch.set_shift(actor=by or dispatcher(), nurse_id=nurse.pk, day=day, starts=starts, ends=ends)


def scheduled(req, nurse, *, start: str = "09:30", by=None):
    by = by or dispatcher()
    if not Shift.objects.filter(nurse=nurse, day=req.preferred_date).exists():
        shift(nurse, req.preferred_date, by=by)
    visit = dispatch.assign(actor=by, request_id=req.pk, nurse_id=nurse.pk, start=start)
    req.refresh_from_db()
    return visit


def today_visit(patient, nurse, *, code: str = "wound_dressing", start: str | None = None):
    """A visit accepted and scheduled for today (booking is from tomorrow, so the day is moved after booking)."""
    req = booked(patient, code=code)
    accepted(req, nurse)
    today = timezone.localdate()
    type(req).objects.filter(pk=req.pk).update(preferred_date=today, window_start=time(0, 0), window_end=time(23, 0))
    req.refresh_from_db()
    now = timezone.localtime()
    start = start or f"{max(now.hour - 1, 0):02d}:00"
    shift(nurse, today, "00:00", "23:59")
    return scheduled(req, nurse, start=start)


def in_service(visit, nurse, *, where=ADDRESS_LATLNG):
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    lat, lng = where if where else (None, None)
    return visiting.check_in(actor=nurse, visit_id=visit.pk, latitude=lat, longitude=lng, accuracy=15)


def completed(visit, nurse, *, where=ADDRESS_LATLNG):
    in_service(visit, nurse, where=where)
    visiting.save_record(actor=nurse, visit_id=visit.pk, vitals={"systolic": 132, "diastolic": 84, "pulse": 76},
                         procedure_notes="伤口清洁干燥，已换药", consumables_used=[{"code": "dressing_pack", "qty": 1}])
    lat, lng = where if where else (None, None)
    return visiting.check_out(actor=nurse, visit_id=visit.pk, latitude=lat, longitude=lng, accuracy=15)
