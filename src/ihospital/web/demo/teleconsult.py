"""The remote-consultation part of the demo: the county hospital asks the provincial hospital's experts.

Dr Chen (dr.chen, internal medicine at the partner hospital in Changzhi) saw Mr Li Fusheng (68, paraplegic, from
Changzhi; his daughter acts for him) in his clinic. Two consultations:

* reported: a multi-disciplinary question on blood-pressure targets during rehabilitation, assigned by the
  coordinator (coord.lin) to dr.wang (cardiology, lead) and dr.guo (rehabilitation), both opinions submitted
  and the report signed; it waits for dr.chen's acknowledgement and is on this month's statement;
* submitted, urgent: chest tightness with ST depression, asking cardiology (dr.wang named) whether a coronary
  angiography is needed, with an ECG report attached and the daughter's consent; it waits on coord.lin's board.

The partner hospital's tariffs are agreed from the first of the year. Everything goes through the services
(the lead signs with the demo's TOTP code). Running it twice creates nothing new.
"""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_otp.oath import totp

from ihospital.accounts.models import PatientProfile, User
from ihospital.directory.models import Department, Facility, FacilityKind
from ihospital.records import services as records
from ihospital.records.models import Encounter
from ihospital.teleconsult import opinions, triage
from ihospital.teleconsult import requests as consult_requests
from ihospital.teleconsult.models import ConsultRequest, Mode, Tariff, Urgency

# Fees agreed with the partner hospital (fen), by urgency and mode.
TARIFFS = {
    (Urgency.ROUTINE, Mode.ASYNC): 30000, (Urgency.ROUTINE, Mode.LIVE): 50000,
    (Urgency.URGENT, Mode.ASYNC): 60000, (Urgency.URGENT, Mode.LIVE): 80000,
    (Urgency.EMERGENCY, Mode.ASYNC): 100000, (Urgency.EMERGENCY, Mode.LIVE): 150000,
}
CLINIC_REASON = "胸闷、血压波动"
REPORTED_QUESTION = "截瘫患者合并高血压，康复训练期间血压控制目标及降压方案如何调整？"
URGENT_QUESTION = "近一周活动后胸闷，心电图 V4-V6 ST 段压低 0.1 mV，是否需要冠脉造影？可否在本院先行药物治疗？"


def load(*, staff: dict[str, User], elder: PatientProfile, daughter: PatientProfile) -> None:
    partner = Facility.objects.filter(code="demo-partner").first() or Facility.objects.filter(
        kind=FacilityKind.PARTNER).first()
    _tariffs(partner)
    chen, lin = staff["dr.chen"], staff["coord.lin"]
    _clinic_visit(chen, elder, partner)
    if ConsultRequest.objects.filter(patient=elder, referring_doctor=chen).exists():
        return
    cardiology = Department.objects.get(facility__kind=FacilityKind.HOME, code="cardiology")
    _reported(chen, lin, staff["dr.wang"], staff["dr.guo"], elder, daughter, cardiology)
    _waiting(chen, staff["dr.wang"], elder, daughter, cardiology)


def _tariffs(partner: Facility) -> None:
    since = date(timezone.localdate().year, 1, 1)
    for (urgency, mode), fee in TARIFFS.items():
        Tariff.objects.get_or_create(facility=partner, urgency=urgency, mode=mode, valid_from=since,
                                     defaults={"fee_fen": fee})


def _clinic_visit(chen: User, elder: PatientProfile, partner: Facility) -> None:
    """Dr Chen saw Mr Li Fusheng in his county clinic (which puts him in Dr Chen's care)."""
    if Encounter.objects.filter(patient=elder, facility=partner).exists():
        return
    internal = Department.objects.get(facility=partner, code="internal")
    records.record_in_person_encounter(
        actor=chen, mrn=elder.mrn, department_id=internal.pk, started_at=timezone.now() - timedelta(days=2),
        reason=CLINIC_REASON,
        summary="截瘫 10 年，高血压 5 年，近一周活动后胸闷，血压 150-170/90-100 mmHg，心电图 V4-V6 ST 段压低。")


def _ecg_pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Helvetica", 12)
    for n, line in enumerate(("Shangdang District People's Hospital (demo) - ECG report",
                              "Patient: LI Fusheng, 68 M", "Sinus rhythm 78/min. ST depression 0.1 mV in V4-V6.",
                              "Impression: possible myocardial ischaemia.")):
        pdf.drawString(60, 780 - 20 * n, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _code(user: User) -> str:
    device = user.totpdevice_set.filter(confirmed=True).first()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def _reported(chen, lin, wang, guo, elder, daughter, cardiology) -> None:
    consult = consult_requests.create_request(
        actor=chen, patient_id=elder.pk, question=REPORTED_QUESTION, urgency=Urgency.ROUTINE, mode=Mode.ASYNC,
        summary="男，68 岁，脊髓损伤后截瘫 10 年，高血压 5 年，服氨氯地平 5 mg qd。康复训练（站立床）时血压 "
                "170/100 mmHg，平卧时 110/70 mmHg，偶有头晕。", department_id=cardiology.pk)
    consult_requests.give_consent(actor=daughter.user, request_id=consult.pk)
    consult_requests.submit(actor=chen, request_id=consult.pk)
    triage.assign(actor=lin, request_id=consult.pk, expert_id=wang.pk, role="lead")
    triage.assign(actor=lin, request_id=consult.pk, expert_id=guo.pk, role="member")
    triage.accept_assignment(actor=wang, request_id=consult.pk)
    triage.accept_assignment(actor=guo, request_id=consult.pk)
    opinions.save_opinion(
        actor=guo, request_id=consult.pk, findings="截瘫患者体位变化时血压波动大，提示自主神经功能障碍。",
        impression="体位性低血压与卧位高血压并存", diagnoses=["G82.2", "I95.1"],
        recommendations="站立训练循序渐进，训练前后监测血压，穿弹力袜及腹带。", submit=True)
    opinions.save_opinion(
        actor=wang, request_id=consult.pk, findings="卧位血压偏高、立位下降，心率变化小。",
        impression="原发性高血压 2 级，伴体位性低血压", diagnoses=["I10", "I95.1"],
        recommendations="睡前服降压药，避免晨起服用；卧位目标 <150/90 mmHg。", submit=True)
    opinions.sign_report(
        actor=wang, request_id=consult.pk, findings="卧位血压偏高、立位下降；体位变化时波动大，提示自主神经功能障碍。",
        impression="原发性高血压 2 级，伴体位性低血压", diagnoses=["I10", "I95.1", "G82.2"],
        recommendations="1. 降压药改为睡前服用，卧位目标 <150/90 mmHg；2. 站立训练循序渐进，训练前后监测血压，"
                        "穿弹力袜及腹带；3. 一个月后复诊评估。", otp_code=_code(wang))


def _waiting(chen, wang, elder, daughter, cardiology) -> None:
    consult = consult_requests.create_request(
        actor=chen, patient_id=elder.pk, question=URGENT_QUESTION, urgency=Urgency.URGENT, mode=Mode.ASYNC,
        summary="男，68 岁，截瘫、高血压。近一周轮椅活动后胸闷，持续 3-5 分钟，休息后缓解。心电图 V4-V6 ST 段压低 "
                "0.1 mV；肌钙蛋白 I 阴性。已予阿司匹林 100 mg qd。", department_id=cardiology.pk,
        named_expert_id=wang.pk)
    consult_requests.upload_attachment(
        actor=chen, request_id=consult.pk, title="心电图报告 ECG",
        file=SimpleUploadedFile("ecg.pdf", _ecg_pdf(), content_type="application/pdf"), doc_kind="other")
    consult_requests.give_consent(actor=daughter.user, request_id=consult.pk)
    consult_requests.submit(actor=chen, request_id=consult.pk)
