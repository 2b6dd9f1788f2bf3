from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _

ELDER_COOKIE = "ihospital_elder"
LAST_SEEN = "_last_seen"
# Refresh the activity mark at most this often, so a page full of requests is not a write per request.
TOUCH_EVERY = 30


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


class IdleTimeoutMiddleware:
    """Signs a session out after a period without activity (shorter for staff)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not getattr(request, "auth_by_token", False):
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            limit = settings.IDLE_TIMEOUT_STAFF if user.needs_second_factor else settings.IDLE_TIMEOUT_PATIENT
            if last is not None and now - last > limit:
                logout(request)
                if _wants_json(request):
                    return JsonResponse(
                        {"error": {"code": "session_expired", "message": _("Your session expired. Sign in again.")}},
                        status=401,
                    )
                return redirect("/accounts/login/?" + urlencode({"expired": 1, "next": request.get_full_path()}))
            if last is None or now - last >= TOUCH_EVERY:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


class UserPreferencesMiddleware:
    """Applies the signed-in user's language and elder mode; anonymous visitors keep theirs in cookies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
            request.elder_mode = user.elder_mode
        else:
            request.elder_mode = request.COOKIES.get(ELDER_COOKIE) == "1"
        return self.get_response(request)


class StaffSecondFactorMiddleware:
    """Staff are never signed in on a password alone: any staff session without a verified TOTP is ended.

    Our own sign-in only logs staff in after the code; this catches every other door (e.g. the admin form).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.needs_second_factor
            and not getattr(request, "auth_by_token", False)
            and not user.is_verified()
        ):
            logout(request)
            if _wants_json(request):
                return JsonResponse(
                    {"error": {"code": "second_factor_required", "message": _("Sign in with your 6-digit code.")}},
                    status=401,
                )
            return redirect("/accounts/login/?" + urlencode({"next": request.get_full_path()}))
        return self.get_response(request)
