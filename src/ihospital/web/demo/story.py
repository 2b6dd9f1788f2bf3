"""The demo hospital tells the story of the seed report.

A provincial teaching hospital in Taiyuan runs the internet hospital; a county hospital in Changzhi is its
partner. Mr Li (hypertension, diagnosed in person) renews his medicines online; Mr Li Fusheng, 68, paralysed
from the waist down, is helped by his daughter, who acts for him; Ms Zhang follows up with her dentist.
All names and numbers are invented; resident ID numbers are generated with valid check digits.

Everything goes through the services, so the demo obeys the same rules as real use. Running it twice
creates nothing new.
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from stdnum.cn import ric

from ihospital.accounts import services as accounts
from ihospital.accounts.models import PatientProfile, ProxyStatus, Role, User
from ihospital.directory import services as directory
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner
from ihospital.pharmacy import services as pharmacy
from ihospital.pharmacy.models import Address, StockLot
from ihospital.prescriptions import formulary
from ihospital.prescriptions import rules as rx_rules
from ihospital.prescriptions import services as rx_services
from ihospital.prescriptions.models import (
    Drug,
    Frequency,
    Prescription,
    PrescriptionItem,
    Review,
    ReviewDecision,
    RxKind,
    RxStatus,
)
from ihospital.records import services as records
from ihospital.records.models import Allergy, Condition, MedicationStatement
from ihospital.scheduling import services as scheduling
from ihospital.scheduling.models import AvailabilityRule, VisitMode

from . import diagnostics as diagnostics_demo
from . import homecare as homecare_demo
from . import teleconsult as teleconsult_demo

DEMO_PASSWORD = "Demo-2026-ihospital"


@dataclass(frozen=True)
class StaffSpec:
    username: str
    real_name: str
    role: str
    profession: str | None = None
    title: str | None = None
    years: int = 0
    departments: tuple[str, ...] = ()
    facility: str = "home"


@dataclass(frozen=True)
class PatientSpec:
    real_name: str
    phone: str
    region: str
    birth: date
    serial: str  # 3 digits; odd last digit = male


FACILITIES = {
    "home": dict(
        name_zh="汾河医科大学第一医院（演示）", name_en="First Hospital of Fenhe Medical University (demo)",
        kind=FacilityKind.HOME, level="三级甲等", city="太原", address="山西省太原市迎泽区解放南路 85 号",
        phone="0351-5550100",
    ),
    "partner": dict(
        name_zh="上党区人民医院（演示）", name_en="Shangdang District People's Hospital (demo)",
        kind=FacilityKind.PARTNER, level="二级甲等", city="长治", address="山西省长治市上党区府前街 12 号",
        phone="0355-5550200",
    ),
}

DEPARTMENTS = {
    "home": [
        ("cardiology", "心血管内科", "Cardiology", True),
        ("stomatology", "口腔科", "Stomatology", True),
        ("endocrinology", "内分泌科", "Endocrinology", True),
        ("oncology", "肿瘤科", "Oncology", True),
        ("rehabilitation", "康复医学科", "Rehabilitation medicine", True),
        ("nursing", "护理部", "Nursing", False),
        ("pharmacy", "药学部", "Pharmacy", False),
        ("laboratory", "检验科", "Clinical laboratory", False),
        ("radiology", "影像科", "Radiology", False),
    ],
    "partner": [("internal", "内科", "Internal medicine", False)],
}

DEMO_STAFF = [
    StaffSpec("dr.wang", "王建国", Role.DOCTOR, "doctor", "chief", 22, ("cardiology",)),
    StaffSpec("dr.cao", "曹悦", Role.DOCTOR, "doctor", "attending", 9, ("stomatology",)),
    StaffSpec("dr.guo", "郭丽", Role.DOCTOR, "doctor", "assoc_chief", 17, ("rehabilitation",)),
    StaffSpec("dr.he", "贺晓东", Role.DOCTOR, "doctor", "resident", 2, ("cardiology",)),
    StaffSpec("nurse.zhao", "赵秀兰", Role.NURSE, "nurse", "supervisor_nurse", 14, ("nursing",)),
    StaffSpec("nurse.liu", "刘婷", Role.NURSE, "nurse", "nurse", 2, ("nursing",)),
    StaffSpec("nurse.ma", "马丽", Role.NURSE, "nurse", "nurse_practitioner", 8, ("nursing",)),
    StaffSpec("pharm.sun", "孙立平", Role.PHARMACIST, "pharmacist", "supervisor_pharmacist", 11, ("pharmacy",)),
    StaffSpec("lab.zhou", "周敏", Role.LAB_TECH, "technician", "supervisor_technician", 8, ("laboratory",)),
    StaffSpec("dispatch.wu", "吴刚", Role.DISPATCHER),
    StaffSpec("admin.zheng", "郑华", Role.ADMIN),
    StaffSpec("sec.tian", "田勇", Role.SECURITY),
    StaffSpec("audit.qian", "钱文", Role.AUDITOR),
    StaffSpec("dr.chen", "陈志强", Role.DOCTOR, "doctor", "assoc_chief", 15, ("internal",), facility="partner"),
    StaffSpec("coord.lin", "林芳", Role.COORDINATOR),
]

HYPERTENSIVE = PatientSpec("李建华", "13803510001", "140105", date(1968, 3, 14), "031")
PARAPLEGIC = PatientSpec("李福生", "13803510002", "140402", date(1958, 6, 2), "017")
DAUGHTER = PatientSpec("李娟", "13803510003", "140402", date(1986, 9, 20), "024")
DENTAL = PatientSpec("张敏", "13803510004", "140106", date(1991, 11, 8), "046")
DEMO_PATIENTS = [HYPERTENSIVE, PARAPLEGIC, DAUGHTER, DENTAL]


def resident_id(spec: PatientSpec) -> str:
    body = f"{spec.region}{spec.birth:%Y%m%d}{spec.serial}"
    return body + ric.calc_check_digit(body + "0")  # the function expects a placeholder check digit


def demo_totp_key(username: str) -> str:
    """A stable secret per demo account, so the printed secret stays valid across reloads (demo only)."""
    return hashlib.sha256(f"ihospital-demo-totp:{username}".encode()).hexdigest()[:40]


def totp_secret_base32(username: str) -> str:
    return b32encode(bytes.fromhex(demo_totp_key(username))).decode()


@dataclass(frozen=True)
class Login:
    role: str
    login: str
    name: str
    note: str
    totp_secret: str = ""


def _facilities() -> dict[str, Facility]:
    out = {}
    for key, fields in FACILITIES.items():
        # There is one home hospital: a database that already has one (made by hand or by a test fixture) keeps it.
        existing = Facility.objects.filter(code=f"demo-{key}").first() or (
            Facility.objects.filter(kind=FacilityKind.HOME).first() if fields["kind"] == FacilityKind.HOME else None)
        out[key] = existing or Facility.objects.create(code=f"demo-{key}", **fields)
        if not out[key].phone:  # demo databases made before the appointment lines were added
            Facility.objects.filter(pk=out[key].pk).update(phone=fields["phone"])
        for code, zh, en, online in DEPARTMENTS[key]:
            Department.objects.get_or_create(
                facility=out[key], code=code,
                defaults={"name_zh": zh, "name_en": en, "offers_online_visits": online},
            )
    return out


def _staff(spec: StaffSpec, facilities: dict[str, Facility], employee_no: str, admin: User | None) -> User:
    user = User.objects.filter(username=spec.username).first()
    if user is None:
        user = accounts.create_staff(
            username=spec.username, real_name=spec.real_name, role=spec.role, password=DEMO_PASSWORD,
            employee_no=employee_no, created_by=admin,
        )
        if spec.role == Role.ADMIN:
            User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    TOTPDevice.objects.get_or_create(
        user=user, name="demo", defaults={"key": demo_totp_key(spec.username), "confirmed": True}
    )
    if spec.profession and not Practitioner.objects.filter(user=user).exists():
        facility = facilities[spec.facility]
        today = timezone.localdate()
        directory.register_practitioner(
            user=user, facility=facility, profession=spec.profession,
            licence_no=f"DEMO{employee_no}", title=spec.title,
            independent_practice_since=today.replace(year=today.year - spec.years) - timedelta(days=30),
            departments=list(Department.objects.filter(facility=facility, code__in=spec.departments)),
            actor=admin,
        )
    return user


def _patient(spec: PatientSpec) -> PatientProfile:
    existing = PatientProfile.objects.filter(resident_id=resident_id(spec)).first()
    if existing:
        return existing
    return accounts.register_patient(
        real_name=spec.real_name, resident_id=resident_id(spec), phone=spec.phone,
        password=DEMO_PASSWORD, health_data_consent=True,
    )


def _diagnosis(doctor: User, patient: PatientProfile, department: str, code: str, days_ago: int,
               reason: str, summary: str) -> None:
    """An in-person clinic visit with a confirmed chronic diagnosis: the basis for online follow-ups."""
    if Condition.objects.filter(patient=patient, code=code, encounter__isnull=False).exists():
        return
    dept = Department.objects.get(facility__kind=FacilityKind.HOME, code=department)
    started = timezone.now() - timedelta(days=days_ago)
    encounter = records.record_in_person_encounter(
        actor=doctor, mrn=patient.mrn, department_id=dept.pk, started_at=started, reason=reason, summary=summary
    )
    records.add_condition(
        actor=doctor, patient_id=patient.pk, code=code, encounter_id=encounter.pk, chronic=True,
        onset_date=(started - timedelta(days=365 * 3)).date(),
    )


# Online-visit availability the demo doctors publish: weekday clinic hours as text visits (15-minute slots, one
# patient each) and a Saturday morning of video visits.
WEEKDAY_HOURS = ((time(8), time(12)), (time(14), time(17)))
AVAILABILITY = [
    *((weekday, start, end, 15, VisitMode.TEXT) for weekday in range(5) for start, end in WEEKDAY_HOURS),
    (5, time(9), time(12), 20, VisitMode.VIDEO),
]


def _availability(doctor: User, department: str) -> None:
    """Publish the doctor's weekly times through the scheduling service (skipping those already published)."""
    practitioner = Practitioner.objects.get(user=doctor)
    dept = Department.objects.get(facility__kind=FacilityKind.HOME, code=department)
    published = set(
        AvailabilityRule.objects.filter(practitioner=practitioner, active=True).values_list("weekday", "start_time")
    )
    for weekday, start, end, minutes, mode in AVAILABILITY:
        if (weekday, start) in published:
            continue
        scheduling.publish_rule(
            actor=doctor, practitioner_id=practitioner.pk, department_id=dept.pk, weekday=weekday,
            start_time=start, end_time=end, slot_minutes=minutes, capacity=1, mode=mode,
            valid_from=timezone.localdate(),
        )


@transaction.atomic
def load() -> list[Login]:
    facilities = _facilities()
    admin = None
    staff: dict[str, User] = {}
    for n, spec in enumerate(DEMO_STAFF, start=1):
        staff[spec.username] = _staff(spec, facilities, f"E{n:04d}", admin)
        if spec.role == Role.ADMIN:
            admin = staff[spec.username]
    patients = {spec.real_name: _patient(spec) for spec in DEMO_PATIENTS}

    li = patients[HYPERTENSIVE.real_name]
    _diagnosis(staff["dr.wang"], li, "cardiology", "I10", 40, "头晕、血压升高",
               "诊室血压 162/98 mmHg，诊断原发性高血压 2 级，予氨氯地平 5 mg 每日一次。")
    if not records_has(li, "medication"):
        records.add_medication(actor=staff["dr.wang"], patient_id=li.pk, medication="氨氯地平片 Amlodipine",
                               dose="5 mg", frequency="每日一次 qd", route="口服 po",
                               started_on=timezone.localdate() - timedelta(days=40))
    if not records_has(li, "allergy"):
        records.add_allergy(actor=li.user, patient_id=li.pk, substance="青霉素 Penicillin", reaction="皮疹 rash")

    elder = patients[PARAPLEGIC.real_name]
    _diagnosis(staff["dr.guo"], elder, "rehabilitation", "G82.2", 120, "出院后随访",
               "脊髓损伤后截瘫，长期卧床，需居家护理（导尿管护理、压疮预防）。")
    daughter = patients[DAUGHTER.real_name]
    if not elder.proxies.filter(proxy_user=daughter.user, status=ProxyStatus.ACTIVE).exists():
        accounts.invite_proxy(patient_user=elder.user, proxy_phone=DAUGHTER.phone,
                              proxy_real_name=DAUGHTER.real_name, relationship="child", consent=True)

    dental = patients[DENTAL.real_name]
    _diagnosis(staff["dr.cao"], dental, "stomatology", "K05.3", 30, "牙龈出血",
               "慢性牙周炎，已行龈上洁治，约 4 周后复诊。")

    _availability(staff["dr.wang"], "cardiology")
    _availability(staff["dr.cao"], "stomatology")

    formulary.load()
    _monthly_prescription(staff["dr.wang"], staff["pharm.sun"], li)
    _stock()
    homecare_demo.load(staff=staff, elder=elder, daughter=daughter)
    diagnostics_demo.load(staff=staff, li=li, elder=elder)
    teleconsult_demo.load(staff=staff, elder=elder, daughter=daughter)
    _home_address(li, "家", "山西省", "太原市", "小店区", "长风街 18 号 3 单元 502 室", "030006", 37.8273, 112.5614)

    logins = [
        Login(Role.PATIENT, HYPERTENSIVE.phone, HYPERTENSIVE.real_name,
              "hypertension (I10), diagnosed in person; monthly medicines, a refill is due"),
        Login(Role.PATIENT, PARAPLEGIC.phone, PARAPLEGIC.real_name, "68, paraplegic (G82.2), daughter acts for him"),
        Login(Role.PATIENT, DAUGHTER.phone, DAUGHTER.real_name, "proxy: acts for her father"),
        Login(Role.PATIENT, DENTAL.phone, DENTAL.real_name, "dental follow-up (K05.3)"),
    ]
    notes = {
        "dr.wang": "cardiology, chief physician, may practise online; books online visits Mon-Sat",
        "dr.cao": "stomatology (the dentist of the seed); books online visits Mon-Sat",
        "dr.guo": "rehabilitation, cares for Li Fusheng",
        "dr.he": "2 years of practice: NOT allowed to practise online",
        "nurse.zhao": "supervisor nurse, 14 years: home nursing; visits Li Fusheng today",
        "nurse.liu": "2 years, title nurse: NOT allowed at homes",
        "nurse.ma": "nurse practitioner, 8 years: home nursing (maternal-infant, wound and ostomy)",
        "sec.tian": "hospital security: the nurses' alarm console",
        "dispatch.wu": "dispatcher: plans the home-nursing day",
        "dr.chen": "partner county hospital: asks the experts for remote consultations on Li Fusheng",
        "coord.lin": "consultation coordinator: triages remote consultation requests on the board",
        "pharm.sun": "pharmacist: reviews prescriptions (审方)",
        "lab.zhou": "lab technician: enters results, imports HL7",
    }
    for spec in DEMO_STAFF:
        logins.append(Login(spec.role, spec.username, spec.real_name, notes.get(spec.username, ""),
                            totp_secret_base32(spec.username)))
    return logins


# Mr Li's monthly medicines: what the seed's hypertensive patient renews online (ATC code, dose, frequency).
MONTHLY_MEDICINES = (("C08CA01", "5", Frequency.QD), ("C10AA05", "20", Frequency.QN))


def _monthly_prescription(doctor: User, pharmacist: User, patient: PatientProfile) -> None:
    """Last month's chronic prescription (3 refills), approved and dispensed 25 days ago, so a refill is due now.

    It is history, so it is written as the hospital's system would have kept it (no visit can be replayed 25
    days back); it is sealed and hashed by the same functions as a prescription signed today, so its slip
    verifies."""
    if Prescription.objects.filter(patient=patient, renewal_of__isnull=True, refills_allowed__gt=0).exists():
        return
    practitioner = Practitioner.objects.get(user=doctor)
    condition = Condition.objects.filter(patient=patient, code="I10").first()
    signed = timezone.now() - timedelta(days=25)
    with transaction.atomic():
        rx = Prescription.objects.create(
            number=f"RX{timezone.localtime(signed):%Y%m%d}D{patient.pk:05d}", patient=patient, doctor=practitioner,
            department=condition.encounter.department, condition=condition, diagnosis_code=condition.code,
            diagnosis_display=condition.display, kind=RxKind.CHRONIC, refills_allowed=3,
            notes="每日早晨测量血压并记录；如有头晕、心悸及时复诊。", signed_at=signed,
            valid_until=signed + timedelta(days=3),
        )
        for position, (atc, dose, frequency) in enumerate(MONTHLY_MEDICINES, start=1):
            drug = Drug.objects.filter(atc_code=atc, active=True).order_by("sku").first()
            PrescriptionItem.objects.create(
                prescription=rx, position=position, drug=drug, dose=Decimal(dose), dose_unit=drug.dose_unit,
                frequency=frequency, route=drug.default_route, duration_days=28,
                quantity=rx_rules.packages_needed(drug, Decimal(dose), frequency, 28),
            )
        content_hash = rx_services.hash_content(rx)
        Prescription.objects.filter(pk=rx.pk).update(
            status=RxStatus.DISPENSED, content_hash=content_hash, reviewer=pharmacist,
            reviewed_at=signed + timedelta(hours=1), dispensed_at=signed + timedelta(hours=3),
            doctor_seal=rx_services.seal_of_doctor(rx, content_hash),
        )
        review = Review.objects.create(prescription=rx, pharmacist=pharmacist, decision=ReviewDecision.APPROVED,
                                       seal="")
        review.seal = rx_services.seal_of_review(review, content_hash)
        review.save(update_fields=["seal"])


def _stock() -> None:
    """Two lots of every ordinary drug on the pharmacy's shelf: one expiring in 3 months, one in 18 (the first
    is used first, as long as it lasts the whole supply)."""
    today = timezone.localdate()
    for drug in Drug.objects.filter(control_class="ordinary", active=True):
        if StockLot.objects.filter(drug=drug).exists():
            continue
        for n, (months, packages) in enumerate(((3, 40), (18, 200)), start=1):
            StockLot.objects.create(drug=drug, lot_no=f"{drug.sku}-{today:%y%m}{n}", on_hand=packages,
                                    expires_on=today + timedelta(days=30 * months),
                                    received_on=today - timedelta(days=30))


def _home_address(patient: PatientProfile, label: str, province: str, city: str, district: str, detail: str,
                  postal_code: str, latitude: float, longitude: float) -> None:
    if Address.objects.filter(patient=patient).exists():
        return
    pharmacy.save_address(actor=patient.user, patient_id=patient.pk, recipient=patient.real_name,
                          phone=patient.user.phone, province=province, city=city, district=district, detail=detail,
                          label=label, postal_code=postal_code, latitude=latitude, longitude=longitude)


def records_has(patient: PatientProfile, kind: str) -> bool:
    model = {"medication": MedicationStatement, "allergy": Allergy}[kind]
    return model.objects.filter(patient=patient).exists()


def format_logins(logins: list[Login]) -> str:
    lines = [
        f"Demo logins (password for every account: {DEMO_PASSWORD})",
        "Staff also type a 6-digit code: add the TOTP secret to an authenticator app,",
        "or print the current code with:  .venv/bin/ihospital demo_otp <username>",
        "",
        f"{'role':<11} {'login':<14} {'name':<6} {'TOTP secret':<33} note",
    ]
    for login in logins:
        lines.append(f"{login.role:<11} {login.login:<14} {login.name:<6} {login.totp_secret or '-':<33} {login.note}")
    return "\n".join(lines)

