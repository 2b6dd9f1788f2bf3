"""The API's shared behaviour: the error format, validation errors, authentication, OpenAPI and /healthz."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import translation

from ihospital.api import on_domain_error
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db


# ---- DomainError -> {"error": {"code", "message"}} --------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (DomainError("some_rule", "Broken rule."), 400),
        (DomainError("teapot", "Short and stout.", status=418), 418),
        (Forbidden("nope", "Not allowed."), 403),
        (NotFound(), 404),
        (Conflict("clash", "Clash."), 409),
    ],
)
def test_domain_error_becomes_a_json_4xx(exc, status):
    request = RequestFactory().get("/api/x")
    with translation.override("en"):
        response = on_domain_error(request, exc)
        expected = {"error": {"code": exc.code, "message": str(exc.message)}}
    assert response.status_code == status
    assert json.loads(response.content) == expected


def test_domain_error_with_fields():
    exc = DomainError("bad", "Bad.", fields={"phone": "not a phone"})
    assert exc.as_dict() == {"error": {"code": "bad", "message": "Bad.", "fields": {"phone": "not a phone"}}}
    with translation.override("en"):
        assert NotFound().as_dict() == {"error": {"code": "not_found", "message": "Not found."}}


def test_service_error_reaches_the_client_with_fields(client):
    response = client.post(
        "/api/auth/register",
        {"real_name": "张三", "resident_id": "123", "phone": "13800138000", "password": "x" * 12,
         "health_data_consent": True},
        content_type="application/json",
        headers={"accept-language": "en"},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_resident_id"
    assert error["fields"] == {"resident_id": "wrong length or characters"}


# ---- validation errors -------------------------------------------------------------------------------------


def test_missing_field_is_422_invalid_input(client):
    before = counts(with_audit=True)
    response = client.post(
        "/api/auth/register", {"real_name": "张三", "phone": "13800138000"}, content_type="application/json"
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert {"resident_id", "password", "health_data_consent"} <= set(error["fields"])
    assert counts(with_audit=True) == before


def test_wrong_type_is_422_invalid_input(client, patient):
    headers = token_headers(patient.user)
    response = client.post(
        f"/api/patients/{patient.pk}/conditions",
        {"code": "I10", "chronic": "very", "onset_date": "yesterday"},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert {"chronic", "onset_date"} <= set(error["fields"])


def test_malformed_json_is_not_a_500(client):
    response = client.post("/api/auth/register", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_non_integer_path_parameter_is_not_a_500(client, patient):
    response = client.get("/api/patients/abc/chart", headers=token_headers(patient.user))
    assert 400 <= response.status_code < 500


# ---- authentication ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/me"),
        ("get", "/api/patients"),
        ("get", "/api/proxies"),
        ("get", "/api/consents"),
        ("get", "/api/icd10?q=I10"),
        ("post", "/api/encounters"),
        ("get", "/api/documents/1/download"),
    ],
)
def test_unauthenticated_is_401_not_authenticated(client, method, path):
    response = client.post(path, {}, content_type="application/json") if method == "post" else client.get(path)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_bad_bearer_token_is_401(client):
    response = client.get("/api/me", headers={"authorization": "Bearer not-a-real-token"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_preferences(client, patient):
    headers = token_headers(patient.user)
    response = client.patch("/api/me/preferences", {"language": "en", "elder_mode": True},
                            content_type="application/json", headers=headers)
    assert response.status_code == 200
    assert (response.json()["language"], response.json()["elder_mode"]) == ("en", True)
    patient.user.refresh_from_db()
    assert (patient.user.language, patient.user.elder_mode) == ("en", True)
    response = client.patch("/api/me/preferences", {"language": "fr"}, content_type="application/json",
                            headers=headers)
    assert error_of(response)["code"] == "invalid_language"
    patient.user.refresh_from_db()
    assert patient.user.language == "en"


# ---- OpenAPI and health ------------------------------------------------------------------------------------


def test_openapi_document_lists_our_paths(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["info"]["title"] == "ihospital API"
    paths = set(doc["paths"])
    for path in [
        "/api/auth/register",
        "/api/auth/token",
        "/api/me",
        "/api/proxies/invite",
        "/api/proxies/{proxy_id}/approve",
        "/api/consents/{consent_id}/withdraw",
        "/api/patients/{patient_id}/chart",
        "/api/patients/{patient_id}/conditions",
        "/api/patients/{patient_id}/documents",
        "/api/documents/{document_id}/download",
        "/api/chart/{entry_type}/{entry_id}/entered-in-error",
        "/api/encounters",
        "/api/icd10",
        "/api/directory/practitioners",
    ]:
        assert path in paths, path


def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is True
    assert body["checks"]["database"]["vendor"] == connection.vendor


def test_healthz_reports_a_broken_channel_layer(client, monkeypatch):
    from ihospital import health

    class Broken:
        async def new_channel(self, prefix="x"):
            return prefix + "1"

        async def send(self, channel, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(health, "get_channel_layer", lambda: Broken())
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["channel_layer"] == {"ok": False, "backend": "Broken", "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] is True

    monkeypatch.setattr(health, "get_channel_layer", lambda: None)
    assert client.get("/healthz").status_code == 503


@pytest.mark.django_db
def test_an_id_beyond_the_database_range_is_bad_input_not_a_crash(client, patient):
    response = client.get(f"/api/patients/{2**70}/chart", headers=token_headers(patient.user))
    assert 400 <= response.status_code < 500
