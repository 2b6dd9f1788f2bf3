"""Small helpers that the HTML views of every app share (``core`` imports no app, so any app may use them).

A view parses a form, calls a service and, when the service raises ``DomainError``, shows the same message
the API would send: next to the field it is about, or above the form.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.utils.http import url_has_allowed_host_and_scheme

from .errors import DomainError


def apply_domain_error(form: forms.Form, exc: DomainError, field_map: Mapping[str, str] | None = None) -> None:
    """Attach a service's refusal to ``form``: to the first field it names (mapped to the form's own field
    names through ``field_map``), otherwise as an error of the whole form."""
    if not hasattr(form, "cleaned_data"):  # add_error() expects a validated form
        form.cleaned_data = {}
    field_map = field_map or {}
    for name in exc.fields:
        target = field_map.get(name, name)
        if target in form.fields:
            form.add_error(target, str(exc.message))
            return
    form.add_error(None, str(exc.message))


def safe_next(request, default: str, *, field: str = "next") -> str:
    """The ``next`` address from the query or form if it stays on this site, else ``default``."""
    candidate = request.POST.get(field) or request.GET.get(field) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def role_page(allowed, code: str, message):
    """A view decorator: signed in, and ``allowed(user)``; otherwise ``Forbidden(code, message)`` (a 403 page)."""
    from functools import wraps

    from django.contrib.auth.decorators import login_required

    from .errors import Forbidden

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not allowed(request.user):
                raise Forbidden(code, message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
