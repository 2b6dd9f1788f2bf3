"""The JSON API under /api/, with its OpenAPI document at /api/openapi.json."""

from __future__ import annotations

from django.db import DataError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from ihospital.accounts.api import router as accounts_router
from ihospital.accounts.auth import api_auth
from ihospital.core.errors import DomainError
from ihospital.diagnostics.api import router as diagnostics_router
from ihospital.directory.api import router as directory_router
from ihospital.homecare.api import router as homecare_router
from ihospital.payments.api import router as payments_router
from ihospital.pharmacy.api import router as pharmacy_router
from ihospital.prescriptions.api import router as prescriptions_router
from ihospital.records.api import router as records_router
from ihospital.scheduling.api import router as scheduling_router
from ihospital.teleconsult.api import router as teleconsult_router
from ihospital.visits.api import router as visits_router

api = NinjaAPI(
    title="ihospital API",
    version="1",
    description="Internet hospital: accounts, directory and the chart. Errors are "
    '`{"error": {"code", "message"}}` with a 4xx status; messages follow the Accept-Language header.',
    auth=api_auth,
    urls_namespace="api",
)


def _error(request, status: int, code: str, message: str, **extra):
    body = {"code": code, "message": message, **extra}
    return api.create_response(request, {"error": body}, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    fields = {}
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", []) if p not in ("body", "query", "path", "payload", "form")]
        fields[".".join(loc) or "body"] = err.get("msg", "")
    return _error(request, 422, "invalid_input", _("Some fields are missing or not valid."), fields=fields)


@api.exception_handler(DataError)
def on_data_error(request, exc):
    # e.g. an id beyond the column's range: the database says no; it is still bad input, not a server error.
    return _error(request, 400, "invalid_input", _("A value is out of range."))


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return _error(request, 401, "not_authenticated", _("Please sign in."))


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, "not_found", _("Not found."))


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return _error(request, exc.status_code, "http_error", str(exc))


api.add_router("/", accounts_router)
api.add_router("/directory/", directory_router)
api.add_router("/", records_router)
api.add_router("/scheduling/", scheduling_router)
api.add_router("/", visits_router)
api.add_router("/", prescriptions_router)
api.add_router("/", payments_router)
api.add_router("/", pharmacy_router)
api.add_router("/homecare/", homecare_router)
api.add_router("/diagnostics/", diagnostics_router)
api.add_router("/teleconsult/", teleconsult_router)
