"""Pages and endpoints of payments that are not JSON API: the providers' callbacks and the sandbox checkout.

* ``notify``: ``POST /payments/notify/<provider>/``, where providers deliver their signed callbacks. No session, no
  CSRF token: the provider's signature is the only credential. Forged or tampered → 403 ``bad_signature``, too
  old → 403 ``stale_timestamp``, unreadable → 400, and nothing changes; a callback applied now or before → 200.
  A failure while applying it → 500, so the provider delivers it again.
* ``sandbox_checkout``: the sandbox provider's payment page, for the charge's payer only.
"""

from __future__ import annotations

import contextlib
import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from ihospital.core.errors import NotFound
from ihospital.core.pages import safe_next

from . import services
from .models import SandboxStatus, yuan
from .providers import base as providers
from .providers import sandbox

logger = logging.getLogger(__name__)


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": "FAIL", "error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_POST
def notify(request, provider: str):
    if provider not in providers.enabled():
        return _refusal(404, "unknown_provider", _("This payment method is not available."))
    try:
        notification = providers.get(provider).parse_callback(request)
    except providers.CallbackRejected as exc:
        logger.warning("payments: refused a %s callback (%s): %s", provider, exc.code, exc)
        messages = {
            "bad_signature": _("The signature is not valid."),
            "stale_timestamp": _("The notification is too old."),
        }
        return _refusal(exc.status, exc.code, messages.get(exc.code, _("The notification cannot be read.")))
    except ImproperlyConfigured as exc:
        logger.error("payments: %s is not configured: %s", provider, exc)
        return _refusal(503, "not_configured", _("This payment method is not configured."))
    try:
        event, new = services.handle_notification(provider=provider, notification=notification)
    except Exception:
        logger.exception("payments: applying %s event %s failed", provider, notification.event_id)
        return _refusal(500, "not_processed", _("Not processed; please deliver it again."))
    return JsonResponse({"code": "SUCCESS", "message": "processed" if new else "already processed",
                         "outcome": event.outcome})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sandbox_checkout(request, out_trade_no: str):
    if sandbox.NAME not in providers.enabled():
        raise Http404()
    txn = sandbox.transaction_for(out_trade_no=out_trade_no, user=request.user)
    if txn is None:
        raise NotFound()
    next_url = safe_next(request, reverse("web:home"))
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("pay", "decline"):
            # Decided already (another tab)? The page shows how.
            with contextlib.suppress(sandbox.CheckoutRefused):
                (sandbox.pay if action == "pay" else sandbox.decline)(out_trade_no=out_trade_no, user=request.user)
        query = f"?{urlencode({'next': next_url})}" if request.POST.get("next") else ""
        return redirect(reverse("payments:sandbox_checkout", args=[out_trade_no]) + query)
    return render(request, "payments/sandbox_checkout.html", {
        "txn": txn,
        "amount": yuan(txn.amount_fen),
        "merchant": txn.merchant,
        "next_url": next_url,
        "pending": txn.status == SandboxStatus.PENDING,
        "paid": txn.status == SandboxStatus.PAID,
        "declined": txn.status == SandboxStatus.DECLINED,
        "closed": txn.status == SandboxStatus.CLOSED,
    })
