from __future__ import annotations

from datetime import datetime

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from . import chat, selectors, services
from .realtime import message_payload

router = Router(tags=["visits"])


class VisitIn(Schema):
    patient_id: int
    complaint: str
    condition_id: int | None = None
    document_id: int | None = None
    slot_id: int | None = None
    department_id: int | None = None
    mode: str = "text"
    online_care_consent: bool = False


class VisitOut(Schema):
    id: int
    patient_id: int
    department_id: int
    doctor_id: int | None
    doctor_name: str | None
    mode: str
    status: str
    status_reason: str
    basis_status: str
    basis_review_note: str
    condition_id: int | None
    complaint: str
    created_at: datetime
    starts_at: datetime | None
    queue_position: int | None
    wait_minutes: int | None
    rating: int | None

    @staticmethod
    def resolve_doctor_name(obj):
        return obj.doctor.user.real_name if obj.doctor_id else None

    @staticmethod
    def resolve_starts_at(obj):
        return obj.appointment.slot.starts_at if obj.appointment_id else None

    @staticmethod
    def resolve_queue_position(obj):
        position = selectors.queue_position(obj)
        return position[0] if position else None

    @staticmethod
    def resolve_wait_minutes(obj):
        position = selectors.queue_position(obj)
        return position[1] if position else None


class ReasonIn(Schema):
    reason: str = ""


class CodeIn(Schema):
    code: str


class BasisReviewIn(Schema):
    accept: bool
    code: str = ""
    note: str = ""


class NoteIn(Schema):
    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    diagnosis_codes: list[str] = []
    plan: str = ""
    patient_summary: str = ""


class NoteOut(Schema):
    # Every field required (unlike NoteIn): otherwise get_note's answer to a patient, which has three of them,
    # would also validate as NoteOut and the union would send it in the doctor's shape, blanks and all.
    visit_id: int
    subjective: str
    objective: str
    assessment: str
    diagnosis_codes: list[str]
    plan: str
    patient_summary: str


class PatientNoteOut(Schema):
    visit_id: int
    patient_summary: str
    diagnosis_codes: list[str]


class MessageIn(Schema):
    body: str
    client_id: str = ""


class ReadIn(Schema):
    last_read_id: int


class RatingIn(Schema):
    rating: int
    comment: str = ""


class QueueRowOut(Schema):
    visit_id: int
    patient_name: str
    complaint: str
    queued_at: datetime
    mode: str

    @staticmethod
    def resolve_visit_id(obj):
        return obj.pk

    @staticmethod
    def resolve_patient_name(obj):
        return obj.patient.user.real_name


@router.post("/visits", response={201: VisitOut})
def request_visit(request, payload: VisitIn):
    return Status(201, services.request_visit(actor=request.auth, **payload.dict()))


@router.get("/visits", response=list[VisitOut])
def list_visits(request, patient_id: int):
    return list(selectors.visits_of_patient(request.auth, patient_id))


@router.get("/visits/worklist", response=list[VisitOut])
def worklist(request):
    return list(selectors.doctor_worklist(request.auth))


@router.get("/visits/queue/{department_id}", response=list[QueueRowOut])
def department_queue(request, department_id: int):
    return list(selectors.department_queue(request.auth, department_id))


@router.post("/visits/queue/{department_id}/take", response=VisitOut)
def take_next(request, department_id: int):
    return services.take_next_from_queue(actor=request.auth, department_id=department_id)


@router.post("/visits/consultation-day", response={201: dict})
def start_day(request, payload: CodeIn):
    day = services.start_consultation_day(actor=request.auth, code=payload.code)
    return Status(201, {"date": day.date.isoformat()})


@router.get("/visits/{visit_id}", response=VisitOut)
def get_visit(request, visit_id: int):
    return selectors.participant_visit(request.auth, visit_id)[0]


@router.post("/visits/{visit_id}/cancel", response=VisitOut)
def cancel(request, visit_id: int, payload: ReasonIn):
    return services.cancel_visit(actor=request.auth, visit_id=visit_id, reason=payload.reason)


@router.post("/visits/{visit_id}/basis-review", response=VisitOut)
def review_basis(request, visit_id: int, payload: BasisReviewIn):
    return services.review_basis(actor=request.auth, visit_id=visit_id, **payload.dict())


@router.post("/visits/{visit_id}/accept", response=VisitOut)
def accept(request, visit_id: int):
    return services.accept_visit(actor=request.auth, visit_id=visit_id)


@router.post("/visits/{visit_id}/start", response=VisitOut)
def start(request, visit_id: int):
    return services.start_visit(actor=request.auth, visit_id=visit_id)


@router.post("/visits/{visit_id}/refuse", response=VisitOut)
def refuse(request, visit_id: int, payload: ReasonIn):
    return services.refuse_visit(actor=request.auth, visit_id=visit_id, reason=payload.reason)


@router.post("/visits/{visit_id}/refer", response=VisitOut)
def refer(request, visit_id: int, payload: ReasonIn):
    return services.refer_in_person(actor=request.auth, visit_id=visit_id, reason=payload.reason)


@router.put("/visits/{visit_id}/note", response=NoteOut)
def save_note(request, visit_id: int, payload: NoteIn):
    return services.save_note(actor=request.auth, visit_id=visit_id, **payload.dict())


@router.get("/visits/{visit_id}/note", response={200: NoteOut | PatientNoteOut})
def get_note(request, visit_id: int):
    visit, role = selectors.participant_visit(request.auth, visit_id)
    note = selectors.note_for(visit, role)
    return note


@router.post("/visits/{visit_id}/close", response=VisitOut)
def close(request, visit_id: int):
    return services.close_visit(actor=request.auth, visit_id=visit_id)


@router.post("/visits/{visit_id}/rating", response=VisitOut)
def rate(request, visit_id: int, payload: RatingIn):
    return services.rate_visit(actor=request.auth, visit_id=visit_id, rating=payload.rating, comment=payload.comment)


@router.get("/visits/{visit_id}/messages", response=list[dict])
def messages(request, visit_id: int, after: int = 0):
    visit, _role = selectors.participant_visit(request.auth, visit_id)
    return [message_payload(m) for m in selectors.messages_after(visit, after)]


@router.post("/visits/{visit_id}/messages", response={201: dict})
def post_message(request, visit_id: int, payload: MessageIn):
    message = chat.post_message(actor=request.auth, visit_id=visit_id, body=payload.body,
                                    client_id=payload.client_id)
    return Status(201, message_payload(message))


@router.post("/visits/{visit_id}/attachments", response={201: dict})
def post_attachment(request, visit_id: int, file: File[UploadedFile], body: Form[str] = ""):
    message = chat.post_message(actor=request.auth, visit_id=visit_id, body=body, file=file)
    return Status(201, message_payload(message))


@router.post("/visits/{visit_id}/read", response=dict)
def read(request, visit_id: int, payload: ReadIn):
    mark = chat.mark_read(actor=request.auth, visit_id=visit_id, last_read_id=payload.last_read_id)
    return {"last_read_id": mark.last_read_id}
