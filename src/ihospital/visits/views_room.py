"""The visit room: the chat, the video call, and for the doctor the chart, the basis review, the decisions and
the note; for the patient, after the visit, the summary and the rating.

Every view reaches the visit through ``selectors.participant_visit`` (someone else's id answers the 404 page)
and changes it through one service. A refusal is shown in the room with the service's message (and, for the
doctor's daily sign-in, the link to it). The live parts (messages, typing, receipts, queue, status, call) run
in ``static/visits/room.js`` over the visit's WebSocket; without JavaScript the forms still work.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.core import audit
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.records import icd10
from ihospital.records import selectors as records_selectors
from ihospital.records.api import document_response

from . import chat, selectors, services
from .forms_room import BasisReviewForm, CancelForm, MessageForm, NoteForm, RatingForm, ReasonForm
from .models import ACTIVE_STATUSES, BasisStatus, ConsultationDay, Message, VisitStatus

START_DAY_PATH = "/visits/doctor/start-day/"
TRANSCRIPT_LIMIT = 500


def _start_day_url(room_url: str, link: str = "") -> str:
    try:
        base = reverse("visits:start_day")
    except NoReverseMatch:
        base = link or START_DAY_PATH
    return f"{base}?{urlencode({'next': room_url})}"


def _room_url(visit_id: int) -> str:
    return reverse("visits:room", args=[visit_id])


def _strings() -> dict[str, str]:
    """What room.js says, in the reader's language."""
    return {
        "connected": _("Live"),
        "connecting": _("Connecting…"),
        "reconnecting": _("Connection lost. Reconnecting in %(s)s s…"),
        "offline": _("Offline: messages will be sent when the connection is back."),
        "sending": _("Sending…"),
        "notSent": _("Not sent"),
        "read": _("Read"),
        "typing": _("%(name)s is typing…"),
        "you": _("You"),
        "doctor": _("doctor"),
        "attachment": _("Attachment"),
        "queue": _("You are number %(position)s in the queue. Estimated wait: about %(minutes)s min."),
        "statusChanged": _("The visit is now: %(status)s."),
        "uploadFailed": _("The file could not be sent."),
        "callIdle": _("Check your camera and microphone before joining."),
        "callChecking": _("Asking for the camera and microphone…"),
        "callReady": _("Camera and microphone work. You can join the call."),
        "callWaiting": _("Waiting for the other side to join…"),
        "callConnecting": _("Connecting the call…"),
        "callConnected": _("Connected."),
        "callEnded": _("The call has ended. You can continue in the chat."),
        "callRemoteEnded": _("The other side hung up. You can continue in the chat."),
        "callFailed": _("The video call could not be connected. Please continue in the chat."),
        "callTimeout": _("The video call did not connect within 20 seconds. Please continue in the chat."),
        "callDenied": _(
            "Camera or microphone access was denied. Allow it in your browser's site settings, "
            "or continue in the chat."
        ),
        "callNoDevice": _("No camera or microphone was found. Please continue in the chat."),
        "callInsecure": _("Video needs a secure (HTTPS) connection. Please continue in the chat."),
        "callIncoming": _("The doctor is starting a video call. Join when you are ready."),
        "callIncomingPatient": _("The patient is waiting in the video call."),
        "callBusy": _("The call is already taken in another window."),
        "callAudioOnly": _("No camera found: joining with sound only."),
    }


def _named_codes(codes) -> list[tuple[str, str]]:
    language = get_language() or settings.LANGUAGE_CODE
    return [(code, icd10.known_name(code, language)) for code in codes or []]


def _consultation_day_confirmed(user) -> bool:
    return ConsultationDay.objects.filter(practitioner__user=user, date=timezone.localdate()).exists()


def _room_context(request, visit, role: str, *, bound: dict | None = None, error: DomainError | None = None):
    bound = bound or {}
    user = request.user
    room_url = _room_url(visit.pk)
    transcript = selectors.messages_after(visit, 0, limit=TRANSCRIPT_LIMIT)
    last_id = transcript[-1].pk if transcript else 0
    context = {
        "visit": visit,
        "role": role,
        "is_doctor": role == "doctor",
        "transcript": transcript,
        "last_id": last_id,
        "doctor_user_id": visit.doctor.user_id if visit.doctor_id else "",
        "chat_open": visit.status in ACTIVE_STATUSES,
        "queue": selectors.queue_position(visit),
        "strings": _strings(),
        "message_form": bound.get("message") or MessageForm(),
        "error": error,
        "error_link": _start_day_url(room_url, error.link) if error and error.code == "reauthentication_required"
        else (error.link if error else ""),
        "open_form": next(iter(bound), ""),
        "video_offered": visit.mode == "video",
        "time_zone": settings.TIME_ZONE,
        "in_person_link": services.IN_PERSON_BOOKING_LINK,
    }
    if role == "doctor":
        try:
            note = selectors.note_for(visit, role)
        except NotFound:
            note = None
        try:
            chart = records_selectors.chart(user, visit.patient_id)
        except NotFound:
            chart = None  # no care relationship yet: the chart opens when the visit is accepted
        context.update(
            note=note,
            note_codes=_named_codes(note["diagnosis_codes"]) if note else [],
            chart=chart,
            day_confirmed=_consultation_day_confirmed(user),
            start_day_url=_start_day_url(room_url),
            basis_pending=visit.basis_status == BasisStatus.PENDING_REVIEW and visit.status == VisitStatus.REQUESTED,
            basis_form=bound.get("basis") or BasisReviewForm(),
            refuse_form=bound.get("refuse") or ReasonForm(),
            refer_form=bound.get("refer") or ReasonForm(),
            note_form=bound.get("note") or NoteForm.from_note(note),
            note_editable=visit.status in (VisitStatus.ACCEPTED, VisitStatus.IN_PROGRESS),
        )
    else:
        summary = None
        if visit.status in (VisitStatus.CLOSED, VisitStatus.REFERRED):
            try:
                summary = selectors.note_for(visit, role)
            except NotFound:
                summary = None
        context.update(
            summary=summary,
            summary_codes=_named_codes(summary["diagnosis_codes"]) if summary else [],
            star_choices=[(n, ngettext("%(n)d star", "%(n)d stars", n) % {"n": n}) for n in range(5, 0, -1)],
            rating_form=bound.get("rating") or RatingForm(),
            can_rate=visit.status == VisitStatus.CLOSED and visit.rating is None,
            cancel_form=bound.get("cancel") or CancelForm(),
            can_cancel=visit.status in (VisitStatus.REQUESTED, VisitStatus.ACCEPTED),
        )
    return context


def _render_room(request, visit, role, *, bound=None, error=None, status=200):
    context = _room_context(request, visit, role, bound=bound, error=error)
    return render(request, "visits/room.html", context, status=status)


@login_required
@require_GET
def room(request, visit_id: int):
    visit, role = selectors.participant_visit(request.user, visit_id)  # NotFound -> the 404 page
    if request.GET.get("part") == "live":
        # room.js swaps the header and the side panel in when the status changes (the chat and call stay).
        return render(request, "visits/_room_live.html", _room_context(request, visit, role))
    return _render_room(request, visit, role)


def _act(request, visit_id: int, act, done: str, *, key: str = "", form=None, field_map=None, anchor: str = ""):
    """Run one service for the room; on refusal show the room again with the message (404 stays 404)."""
    visit, role = selectors.participant_visit(request.user, visit_id, audit_read=False)
    if form is not None and not form.is_valid():
        return _render_room(request, visit, role, bound={key: form}, status=400)
    try:
        act(form.cleaned_data if form is not None else {})
    except NotFound:
        raise
    except DomainError as exc:
        if form is not None and exc.code != "reauthentication_required":
            apply_domain_error(form, exc, field_map)
            visit, role = selectors.participant_visit(request.user, visit_id, audit_read=False)
            return _render_room(request, visit, role, bound={key: form}, error=None, status=exc.status)
        visit, role = selectors.participant_visit(request.user, visit_id, audit_read=False)
        bound = {key: form} if form is not None else None
        return _render_room(request, visit, role, bound=bound, error=exc, status=exc.status)
    if done:
        messages.success(request, done)
    return redirect(_room_url(visit_id) + (f"#{anchor}" if anchor else ""))


@login_required
@require_POST
def post_message(request, visit_id: int):
    """The composer without JavaScript: text and/or one file."""
    form = MessageForm(request.POST, request.FILES)
    return _act(
        request, visit_id,
        lambda data: chat.post_message(actor=request.user, visit_id=visit_id, body=data["body"],
                                           file=data.get("file"), client_id=data.get("client_id", "")),
        "", key="message", form=form, field_map={"body": "body", "file": "file"}, anchor="composer",
    )


@login_required
@require_POST
def review_basis(request, visit_id: int):
    form = BasisReviewForm(request.POST)

    def act(data):
        services.review_basis(actor=request.user, visit_id=visit_id, accept=data.get("decision") != "reject",
                              code=data.get("code", ""), note=data.get("note", ""))

    return _act(request, visit_id, act, _("The record was reviewed."), key="basis", form=form,
                field_map={"code": "code", "note": "note"})


@login_required
@require_POST
def accept(request, visit_id: int):
    return _act(request, visit_id, lambda _d: services.accept_visit(actor=request.user, visit_id=visit_id),
                _("You accepted the visit."))


@login_required
@require_POST
def start(request, visit_id: int):
    return _act(request, visit_id, lambda _d: services.start_visit(actor=request.user, visit_id=visit_id),
                _("The consultation has started."))


@login_required
@require_POST
def refuse(request, visit_id: int):
    return _act(
        request, visit_id,
        lambda data: services.refuse_visit(actor=request.user, visit_id=visit_id, reason=data["reason"]),
        _("You refused the visit."), key="refuse", form=ReasonForm(request.POST),
    )


@login_required
@require_POST
def refer(request, visit_id: int):
    return _act(
        request, visit_id,
        lambda data: services.refer_in_person(actor=request.user, visit_id=visit_id, reason=data["reason"]),
        _("The patient was referred to an in-person visit."), key="refer", form=ReasonForm(request.POST),
    )


@login_required
@require_POST
def save_note(request, visit_id: int):
    """Save the SOAP note; with ``action=close`` also close the visit (one form, so nothing typed is lost)."""
    form = NoteForm(request.POST)
    closing = request.POST.get("action") == "close"

    def act(_data):
        services.save_note(actor=request.user, visit_id=visit_id, **form.service_kwargs())
        if closing:
            services.close_visit(actor=request.user, visit_id=visit_id)

    done = _("The visit is closed.") if closing else _("Note saved.")
    return _act(request, visit_id, act, done, key="note", form=form,
                field_map={"code": "diagnosis_codes", "assessment": "assessment", "plan": "plan"}, anchor="note")


@login_required
@require_POST
def close(request, visit_id: int):
    return _act(request, visit_id, lambda _d: services.close_visit(actor=request.user, visit_id=visit_id),
                _("The visit is closed."))


@login_required
@require_POST
def cancel(request, visit_id: int):
    return _act(
        request, visit_id,
        lambda data: services.cancel_visit(actor=request.user, visit_id=visit_id, reason=data["reason"]),
        _("The visit was cancelled."), key="cancel", form=CancelForm(request.POST),
    )


@login_required
@require_POST
def rate(request, visit_id: int):
    form = RatingForm(request.POST)

    def act(data):
        rating = data.get("rating")
        services.rate_visit(actor=request.user, visit_id=visit_id, rating=rating if rating is not None else 0,
                            comment=data.get("comment", ""))

    return _act(request, visit_id, act, _("Thank you for your rating."), key="rating", form=form,
                field_map={"rating": "rating"}, anchor="summary")


@login_required
@require_GET
def attachment(request, visit_id: int, message_id: int):
    """A file sent in the chat, for everyone in the visit (the doctor of a visit not yet accepted included)."""
    visit, _role = selectors.participant_visit(request.user, visit_id, audit_read=False)
    message = (
        Message.objects.select_related("attachment")
        .filter(visit=visit, pk=message_id, attachment__isnull=False, attachment__entered_in_error=False)
        .first()
    )
    if message is None:
        raise Http404
    audit.read(request.user, message.attachment, patient_id=visit.patient_id, detail={"view": "visit chat file"})
    return document_response(message.attachment)


@login_required
@require_GET
def basis_document(request, visit_id: int):
    """The record the patient sent as the basis of the follow-up, for the visit's doctor to review."""
    visit, role = selectors.participant_visit(request.user, visit_id, audit_read=False)
    document = visit.basis_document
    if document is None or document.entered_in_error:
        raise Http404
    audit.read(request.user, document, patient_id=visit.patient_id, detail={"view": "visit basis", "role": role})
    return document_response(document)
