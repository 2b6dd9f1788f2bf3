"""What do per-object scoping and the audit row cost on the busiest read, the patient's chart?

Measures ``GET /api/patients/{id}/chart`` through the whole stack (middleware, token auth, selector with
scoping, audit row, JSON) for the patient and for a proxy, against the baseline of the same chart queries and
serialisation with no scoping and no audit, in the same run on the same database.

Run: ``.venv/bin/python bench/chart_read.py`` (SQLite) or with DATABASE_URL=postgres://... (PostgreSQL).
"""

from __future__ import annotations

import time

import _django

_django.setup()

from django.test import Client  # noqa: E402

from ihospital.accounts.models import PatientProfile  # noqa: E402
from ihospital.accounts.services import issue_api_token  # noqa: E402
from ihospital.records.api import ChartOut  # noqa: E402
from ihospital.records.models import (  # noqa: E402
    Allergy,
    Condition,
    Document,
    Encounter,
    MedicationStatement,
)
from ihospital.records.selectors import Chart  # noqa: E402
from ihospital.web.demo import story  # noqa: E402

N = 500
WARMUP = 50


def unscoped_chart(patient: PatientProfile) -> bytes:
    """Baseline: the same rows and the same JSON, without access checks or audit."""

    def rows(model, *related):
        return list(
            model.objects.filter(patient=patient, entered_in_error=False).select_related("recorded_by", *related)
        )

    chart = Chart(
        patient=patient,
        access="self",
        encounters=rows(Encounter, "facility", "department", "practitioner__user"),
        conditions=rows(Condition, "encounter"),
        allergies=rows(Allergy),
        medications=rows(MedicationStatement),
        documents=rows(Document),
    )
    return ChartOut.from_orm(chart).model_dump_json().encode()


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    story.load()
    patient = PatientProfile.objects.get(user__phone="+86" + story.PARAPLEGIC.phone)
    daughter = PatientProfile.objects.get(user__phone="+86" + story.DAUGHTER.phone).user
    client = Client()
    own = {"HTTP_AUTHORIZATION": "Bearer " + issue_api_token(user=patient.user, otp_verified=False)}
    proxy = {"HTTP_AUTHORIZATION": "Bearer " + issue_api_token(user=daughter, otp_verified=False)}
    url = f"/api/patients/{patient.pk}/chart"

    def via_api(headers):
        response = client.get(url, **headers)
        assert response.status_code == 200, response.content

    def baseline():
        patient_row = PatientProfile.objects.select_related("user").get(pk=patient.pk)
        unscoped_chart(patient_row)

    for fn in (baseline, lambda: via_api(own), lambda: via_api(proxy)):
        timed(fn, WARMUP)
    base = _django.percentiles(timed(baseline, N))
    as_patient = _django.percentiles(timed(lambda: via_api(own), N))
    as_proxy = _django.percentiles(timed(lambda: via_api(proxy), N))
    print(f"{N} chart reads each")
    print(f"baseline (queries + JSON, no scope/audit/HTTP): {_django.fmt(base)}")
    print(f"API as the patient                             : {_django.fmt(as_patient)}")
    print(f"API as the proxy (daughter)                    : {_django.fmt(as_proxy)}")
    print(
        f"chart_read: patient p50 {as_patient['p50']:.2f} ms ({as_patient['p50'] / base['p50']:.2f}x baseline), "
        f"p95 {as_patient['p95']:.2f} ms; proxy p50 {as_proxy['p50']:.2f} ms "
        f"({as_proxy['p50'] / base['p50']:.2f}x), p95 {as_proxy['p95']:.2f} ms"
    )


if __name__ == "__main__":
    main()
