"""The notifications pages under /notifications/: the list (mark one or all read, open one, the delivery status of
each notification on the outside channels), the unread count (JSON, for the bell after a reconnect), the user's
preferences (channels, categories, quiet hours) and, for hospital administrators, the outbox of the SMS and e-mail
the embedded deployment "sent". Views stay thin: reads are scoped to the signed-in user, changes go through the
services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ihospital.accounts.models import Role
from ihospital.core import audit, live
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction

from . import models, services

PER_PAGE = 30
OUTBOX_PER_PAGE = 50


def _safe_link(request, link: str) -> str | None:
    """A notification's link, if it is a path of this site (never an outside address)."""
    if link and link.startswith("/") and not link.startswith("//") and url_has_allowed_host_and_scheme(
        link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return link
    return None


def _deliveries_by_notification(notifications: list) -> dict[int, list]:
    delivery = getattr(models, "Delivery", None)
    if delivery is None or not notifications:
        return {}
    rows: dict[int, list] = {}
    for d in delivery.objects.filter(notification__in=notifications).order_by("channel", "pk"):
        rows.setdefault(d.notification_id, []).append(d)
    return rows


def _tell_other_pages(user) -> None:
    """The bell on the user's other open pages follows (``consumers.NotificationsConsumer.notifications_read``)."""
    live.send_on_commit([services.user_group(user.pk)], {"type": "notifications.read"})


@login_required
@require_GET
def notification_list(request):
    qs = models.Notification.objects.filter(user=request.user)
    only_unread = request.GET.get("show") == "unread"
    if only_unread:
        qs = qs.filter(read_at__isnull=True)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    deliveries = _deliveries_by_notification(items)
    rows = [{"n": n, "link": _safe_link(request, n.link), "deliveries": deliveries.get(n.pk, [])} for n in items]
    context = {
        "page": page,
        "rows": rows,
        "unread": services.unread_count(request.user),
        "only_unread": only_unread,
        "has_preferences": _preferences_available(),
    }
    return render(request, "notifications/list.html", context)


@login_required
@require_POST
def mark_read(request, pk: int):
    notification = models.Notification.objects.filter(user=request.user, pk=pk).first()
    if notification is None:
        raise NotFound("notification_not_found", _("This notification does not exist."))
    if services.mark_read(user=request.user, notification_id=pk):
        _tell_other_pages(request.user)
    if request.POST.get("open"):
        link = _safe_link(request, notification.link)
        if link:
            return HttpResponseRedirect(link)
    return redirect(_back(request))


@login_required
@require_POST
def mark_all_read(request):
    count = services.mark_read(user=request.user)
    if count:
        _tell_other_pages(request.user)
        messages.success(request, _("All notifications are marked read."))
    return redirect(_back(request))


def _back(request) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) and target.startswith(
        "/notifications/"
    ):
        return target
    return reverse("notifications:list")


@login_required
@require_GET
def unread(request):
    return JsonResponse({"unread": services.unread_count(request.user)})


# ---- preferences ------------------------------------------------------------------------------------------------


def _preferences_available() -> bool:
    return getattr(models, "Preference", None) is not None


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    from .forms import PreferencesForm, current_preferences, save_preferences

    if not _preferences_available():
        raise NotFound("preferences_unavailable", _("Notification preferences are not available yet."))
    initial = current_preferences(request.user)
    form = PreferencesForm(request.POST or None, initial=initial, user=request.user)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            save_preferences(user=request.user, data=form.cleaned_data)
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("Notification preferences saved."))
            return redirect("notifications:preferences")
    status = 400 if request.method == "POST" else 200
    return render(request, "notifications/preferences.html", {"form": form, "error": error}, status=status)


# ---- the outbox (administrators) ----------------------------------------------------------------------------------


def _require_admin(user) -> None:
    if user.role != Role.ADMIN:
        raise Forbidden("not_an_admin", _("Only hospital administrators may see the outbox."))


@login_required
@require_GET
def outbox(request):
    _require_admin(request.user)
    outbox_model = getattr(models, "OutboxMessage", None)
    channel = request.GET.get("channel", "")
    rows = []
    page = None
    if outbox_model is not None:
        qs = outbox_model.objects.order_by("-created_at", "-pk")
        if channel in ("sms", "email"):
            qs = qs.filter(channel=channel)
        else:
            channel = ""
        page = Paginator(qs, OUTBOX_PER_PAGE).get_page(request.GET.get("page"))
        rows = list(page.object_list)
    audit.record(actor=request.user, action=AuditAction.READ, object_type="notifications.outboxmessage",
                 detail={"list": "outbox", "channel": channel or "all", "shown": len(rows)})
    return render(request, "notifications/outbox.html",
                  {"rows": rows, "page": page, "channel": channel, "available": outbox_model is not None})
