"""The home-nursing part of the demo: Mr Li Fusheng (68, paraplegic) and his daughter book nurses to his home.

Two home-care nurses have shifts today and tomorrow; a pressure-ulcer visit to Mr Li is scheduled today (so the
nurse can set out, check in and press the alarm), a catheter change is accepted for tomorrow and waits for the
dispatcher's plan, and a wound dressing his daughter booked waits for a nurse's assessment. Everything goes
through the services, except that today's visit is booked for tomorrow and then moved to today (booking is from
tomorrow on, and the demo cannot wait a day). Running it twice creates nothing new.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from ihospital.accounts.models import PatientProfile, User
from ihospital.homecare import assessing, booking, catalogue, dispatch
from ihospital.homecare.models import NurseProfile, NursingRequest, Shift

# Where the nurses start from (the hospital; Ms Ma from her home in Xiaodian) and Mr Li's home.
HOSPITAL = (37.8570, 112.5590, "医院护理部")
NURSE_HOMES = {"nurse.zhao": (*HOSPITAL, ("wound_ostomy", "picc", "palliative")),
               "nurse.ma": (37.8200, 112.5350, "长风小区", ("maternal_infant", "wound_ostomy"))}
LI_HOME = "太原市迎泽区双塔寺社区 5 号楼"


def load(*, staff: dict[str, User], elder: PatientProfile, daughter: PatientProfile) -> None:
    catalogue.load()
    for username, (lat, lng, label, skills) in NURSE_HOMES.items():
        NurseProfile.objects.get_or_create(user=staff[username], defaults={
            "skills": list(skills), "base_latitude": lat, "base_longitude": lng, "base_label": label,
            "phone": "13903510" + ("101" if username == "nurse.zhao" else "102")})
    today = timezone.localdate()
    tomorrow = today + timedelta(days=1)
    for day in (today, tomorrow):
        for username, (starts, ends) in {"nurse.zhao": ("07:00", "21:00"), "nurse.ma": ("08:00", "17:00")}.items():
            if not Shift.objects.filter(nurse=staff[username], day=day).exists():
                dispatch.set_shift(actor=staff["dispatch.wu"], nurse_id=staff[username].pk, day=day, starts=starts,
                                   ends=ends)
    if NursingRequest.objects.filter(patient=elder).exists():
        return
    zhao, dispatcher = staff["nurse.zhao"], staff["dispatch.wu"]

    def book(code: str, group: str, actor: User, window=("09:00", "12:00"), note: str = "") -> NursingRequest:
        return booking.request_visit(
            actor=actor, patient_id=elder.pk, service_code=code, group=group, address=LI_HOME,
            address_detail="2 单元 301 室（无电梯，请敲门）", preferred_date=tomorrow, window_start=window[0],
            window_end=window[1], contact_name=daughter.real_name, contact_phone=daughter.user.phone, consent=True,
            condition_note=note)

    def accept(req: NursingRequest, **kw) -> None:
        assessing.claim(actor=zhao, request_id=req.pk)
        assessing.decide(actor=zhao, request_id=req.pk, accept=True, risk="medium", home_suitable=True,
                         eligibility_confirmed=True, **kw)

    # Today: pressure-ulcer care, scheduled with Ms Zhao from the next half hour.
    ulcer = book("pressure_ulcer", "elderly", daughter.user, note="骶尾部 2 期压疮，约 3×2 cm，家属每 2 小时协助翻身。")
    accept(ulcer, notes="家中有气垫床，家属可协助翻身。")
    now = timezone.localtime()
    start = max(now + timedelta(minutes=30), now.replace(hour=7, minute=30, second=0, microsecond=0))
    start = min(start, now.replace(hour=19, minute=0, second=0, microsecond=0))
    NursingRequest.objects.filter(pk=ulcer.pk).update(
        preferred_date=today, window_start=(start - timedelta(minutes=30)).time().replace(second=0, microsecond=0),
        window_end=(start + timedelta(minutes=60)).time().replace(second=0, microsecond=0))
    dispatch.assign(actor=dispatcher, request_id=ulcer.pk, nurse_id=zhao.pk,
                    start=datetime.strftime(start, "%H:%M"))
    # Tomorrow: a catheter change, accepted, waiting for the dispatcher's plan.
    catheter = book("urinary_catheter", "elderly", daughter.user, window=("14:00", "17:00"),
                    note="留置导尿管已 4 周，需更换。")
    accept(catheter, notes="医嘱：郭丽医生 康复医学科，每 4 周更换导尿管。")
    # And a wound dressing waiting for a nurse to assess it.
    book("wound_dressing", "elderly", elder.user, window=("09:00", "11:00"), note="右足跟擦伤，已结痂。")
