"""The live session page: the video grid (one tile per remote participant, named with their role), the local
preview, mute / camera / hang-up, and the request's attachments, one of which is shown to everyone (shared viewing).

The call runs in ``static/teleconsult/mesh.js`` over ``ws/teleconsult/session/<id>/`` (``consumers.SessionConsumer``).
The page is reached through ``selectors.session_for`` (participants only; anyone else gets the 404 page). Parts of
the same address:

* ``?part=viewer&attachment=<id>``: the viewer of one attachment (an HTML fragment mesh.js puts in place when
  someone shares it): a DICOM preview image (the diagnostics app's preview), the lab results, or a document's
  download link;
* ``?part=download&attachment=<id>``: a document attachment's file.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ihospital.core.errors import NotFound
from ihospital.diagnostics.models import DicomInstance
from ihospital.records.api import document_response

from . import selectors
from .consumers import attachment_title
from .models import Attachment, AttachmentKind, SessionStatus

PARTS = ("viewer", "download")


def _strings() -> dict[str, str]:
    """What mesh.js says, in the reader's language."""
    return {
        "you": _("You"),
        "roles": {"referrer": _("referring doctor"), "expert": _("expert"), "patient": _("patient")},
        "connecting": _("Connecting…"),
        "waiting": _("Waiting for the others to join…"),
        "inCall": _("In the call: %(n)s others."),
        "left": _("You left the call. You can join again."),
        "ended": _("The session has ended."),
        "endedBy": _("%(name)s ended the session."),
        "sharedBy": _("Shared by %(name)s"),
        "shownHere": _("Shown to you only: join the call to show it to everyone."),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "cameraOff": _("Turn camera off"),
        "cameraOn": _("Turn camera on"),
        "confirmEnd": _("End the session for everyone?"),
        "mediaDenied": _("Camera or microphone access was denied. Allow it in the browser's site settings."),
        "mediaMissing": _("No camera or microphone was found."),
        "insecure": _("Video needs a secure (https) connection."),
        "failed": _("The connection to %(name)s failed."),
        "reconnecting": _("Connection lost. Reconnecting…"),
        "viewerFailed": _("The attachment could not be shown."),
        "tapToHear": _("Tap to hear the others."),
    }


def _attachments(request) -> list[Attachment]:
    return list(Attachment.objects.filter(request=request, removed_at__isnull=True)
                .select_related("document", "order__test", "study").order_by("added_at", "pk"))


def _own_attachment(user, session, attachment_id) -> Attachment:
    attachment, _role = selectors.attachment_for(user, attachment_id)
    if attachment.request_id != session.request_id:
        raise NotFound()
    return attachment


def viewer_context(attachment: Attachment | None) -> dict:
    """What the viewer shows for one attachment (see ``teleconsult/_session_viewer.html``)."""
    if attachment is None:
        return {"attachment": None}
    context = {"attachment": attachment, "title": attachment_title(attachment), "kind": attachment.kind}
    if attachment.kind == AttachmentKind.IMAGING:
        study = attachment.study
        context["study"] = study
        context["images"] = [{"instance": i, "preview": _preview_url(attachment, i.pk)}
                             for i in DicomInstance.objects.filter(study=study).order_by("series_uid",
                                                                                         "instance_number")]
    elif attachment.kind == AttachmentKind.LAB:
        from ihospital.diagnostics.views_patient import _lab_rows

        context["order"] = attachment.order
        context["rows"] = _lab_rows(attachment.order)
    else:
        context["download"] = _download_url(attachment)
    return context


def _preview_url(attachment: Attachment, instance_id: int) -> str:
    """The image through the consultation's access rules (the experts are not the order's doctors); the
    diagnostics app's own preview when that address is not there."""
    try:
        return reverse("teleconsult:attachment_preview", args=[attachment.pk, instance_id])
    except NoReverseMatch:
        from ihospital.diagnostics.views_staff import preview_url

        return preview_url(instance_id)


def _download_url(attachment: Attachment) -> str:
    try:
        return reverse("teleconsult:attachment", args=[attachment.pk])
    except NoReverseMatch:
        return f"?part=download&attachment={attachment.pk}"


@require_GET
@login_required
def session(request, session_id: int):
    consult_session, role = selectors.session_for(request.user, session_id)
    part = request.GET.get("part", "")
    if part in PARTS:
        attachment = _own_attachment(request.user, consult_session, request.GET.get("attachment"))
        if part == "download":
            if attachment.kind != AttachmentKind.DOCUMENT:
                raise NotFound()
            return document_response(attachment.document)
        response = render(request, "teleconsult/_session_viewer.html",
                          {**viewer_context(attachment), "session": consult_session})
        response["Cache-Control"] = "no-store, private"
        return response

    shared = None
    if consult_session.shared_attachment_id:
        shared = Attachment.objects.filter(pk=consult_session.shared_attachment_id, removed_at__isnull=True).first()
    open_ = consult_session.status in (SessionStatus.SCHEDULED, SessionStatus.LIVE)
    context = {
        "session": consult_session,
        "consult": consult_session.request,
        "role": role,
        "role_label": _strings()["roles"].get(role, role),
        "attachments": [{"attachment": a, "title": attachment_title(a)} for a in _attachments(consult_session.request)],
        "shared": shared,
        "viewer": {**viewer_context(shared), "session": consult_session},
        "is_open": open_,
        "can_end": role != "patient",
        "strings": _strings(),
        "max_participants": settings.TELECONSULT_MAX_PARTICIPANTS,
        "ws_path": f"/ws/teleconsult/session/{consult_session.pk}/",
    }
    response = render(request, "teleconsult/session.html", context)
    response["Cache-Control"] = "no-store, private"
    return response
