from __future__ import annotations

from datetime import date, datetime

from django.http import FileResponse
from django.utils.translation import get_language
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from . import icd10, selectors, services, storage

router = Router(tags=["records"])


class PatientSummary(Schema):
    id: int
    mrn: str
    real_name: str
    sex: str
    birth_date: date
    age: int

    @staticmethod
    def resolve_real_name(obj):
        return obj.user.real_name

    @staticmethod
    def resolve_age(obj):
        return obj.age()


class EncounterOut(Schema):
    id: int
    mode: str
    facility: str
    department: str
    practitioner: str
    started_at: datetime
    reason: str
    summary: str

    @staticmethod
    def resolve_facility(obj):
        return obj.facility.name

    @staticmethod
    def resolve_department(obj):
        return obj.department.name

    @staticmethod
    def resolve_practitioner(obj):
        return obj.practitioner.user.real_name


class ConditionOut(Schema):
    id: int
    code: str
    name: str
    display: str
    verification: str
    clinical_status: str
    chronic: bool
    onset_date: date | None
    encounter_id: int | None
    definite_in_person: bool

    @staticmethod
    def resolve_definite_in_person(obj):
        return obj.is_definite_in_person_diagnosis


class AllergyOut(Schema):
    id: int
    substance: str
    category: str
    reaction: str
    severity: str
    verified: bool


class MedicationOut(Schema):
    id: int
    medication: str
    dose: str
    frequency: str
    route: str
    status: str
    verified: bool


class DocumentOut(Schema):
    id: int
    kind: str
    title: str
    content_type: str
    size: int
    sha256: str
    recorded_at: datetime


class ChartOut(Schema):
    patient: PatientSummary
    access: str
    encounters: list[EncounterOut]
    conditions: list[ConditionOut]
    allergies: list[AllergyOut]
    medications: list[MedicationOut]
    documents: list[DocumentOut]


class EncounterIn(Schema):
    mrn: str
    department_id: int
    started_at: datetime
    reason: str = ""
    summary: str = ""


class ConditionIn(Schema):
    code: str
    encounter_id: int | None = None
    verification: str = "confirmed"
    chronic: bool = False
    onset_date: date | None = None
    note: str = ""


class AllergyIn(Schema):
    substance: str
    category: str = "drug"
    reaction: str = ""
    severity: str = "moderate"


class MedicationIn(Schema):
    medication: str
    dose: str = ""
    frequency: str = ""
    route: str = ""
    started_on: date | None = None


class EnteredInErrorIn(Schema):
    reason: str


class Icd10Out(Schema):
    code: str
    name: str
    name_en: str


@router.get("/patients", response=list[PatientSummary])
def list_patients(request):
    return list(selectors.visible_patients(request.auth).order_by("pk"))


@router.get("/patients/{patient_id}/chart", response=ChartOut)
def get_chart(request, patient_id: int):
    return selectors.chart(request.auth, patient_id)


@router.post("/encounters", response={201: EncounterOut})
def record_encounter(request, payload: EncounterIn):
    return Status(201, services.record_in_person_encounter(actor=request.auth, **payload.dict()))


@router.post("/patients/{patient_id}/conditions", response={201: ConditionOut})
def add_condition(request, patient_id: int, payload: ConditionIn):
    return Status(201, services.add_condition(actor=request.auth, patient_id=patient_id, **payload.dict()))


@router.post("/patients/{patient_id}/allergies", response={201: AllergyOut})
def add_allergy(request, patient_id: int, payload: AllergyIn):
    return Status(201, services.add_allergy(actor=request.auth, patient_id=patient_id, **payload.dict()))


@router.post("/patients/{patient_id}/medications", response={201: MedicationOut})
def add_medication(request, patient_id: int, payload: MedicationIn):
    return Status(201, services.add_medication(actor=request.auth, patient_id=patient_id, **payload.dict()))


@router.post("/patients/{patient_id}/documents", response={201: DocumentOut})
def upload_document(request, patient_id: int, kind: Form[str], file: File[UploadedFile], title: Form[str] = ""):
    doc = services.upload_document(actor=request.auth, patient_id=patient_id, kind=kind, title=title, file=file)
    return Status(201, doc)


@router.get("/documents/{document_id}/download", response={200: None})
def download_document(request, document_id: int):
    doc = selectors.document_for(request.auth, document_id)
    return document_response(doc)


@router.post("/chart/{entry_type}/{entry_id}/entered-in-error", response={200: dict})
def entered_in_error(request, entry_type: str, entry_id: int, payload: EnteredInErrorIn):
    entry = services.mark_entered_in_error(
        actor=request.auth, entry_type=entry_type, entry_id=entry_id, reason=payload.reason
    )
    return {"id": entry.pk, "entered_in_error": True}


@router.get("/icd10", response=list[Icd10Out])
def search_icd10(request, q: str, limit: int = 20):
    language = get_language() or "zh-hans"
    return [
        {"code": c.code, "name": c.name(language), "name_en": c.name_en}
        for c in icd10.search(q, limit=max(1, min(limit, 50)))
    ]


def document_response(doc) -> FileResponse:
    """Always a download with the sniffed type: never rendered inline as a page, never sniffed by the browser."""
    response = FileResponse(
        storage.path_of(doc.storage_name).open("rb"),
        as_attachment=True,
        filename=doc.original_name or f"document-{doc.pk}",
        content_type=doc.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
