"""API authentication: the browser session (with CSRF) or a bearer token."""

from __future__ import annotations

from django.utils import timezone, translation
from ninja.security import HttpBearer, SessionAuth

from .models import ApiToken


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        row = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=ApiToken.hash_key(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
            .first()
        )
        if row is None or not row.user.is_active:
            return None
        if row.user.needs_second_factor and not row.otp_verified:
            return None
        request.user = row.user
        request.auth_by_token = True
        # The middleware ran before the token was read. An app that names a language (Accept-Language) gets
        # it; otherwise the user's saved language applies, as on the pages.
        if not request.headers.get("Accept-Language"):
            translation.activate(row.user.language)
            request.LANGUAGE_CODE = row.user.language
        return row.user


class ActiveSessionAuth(SessionAuth):
    """Session auth that also insists on the second factor for staff (the middleware ends such sessions too)."""

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is None:
            return None
        if user.needs_second_factor and not user.is_verified():
            return None
        return user


api_auth = [TokenAuth(), ActiveSessionAuth()]
