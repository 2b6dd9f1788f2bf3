"""Reads of the public directory (facilities, departments, practitioners). Not health data."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Department, Facility, Practitioner


def facilities() -> QuerySet[Facility]:
    return Facility.objects.order_by("kind", "code")


def departments(facility_code: str | None = None) -> QuerySet[Department]:
    qs = Department.objects.select_related("facility").order_by("facility__code", "code")
    return qs.filter(facility__code=facility_code) if facility_code else qs


def practitioners(department_id: int | None = None) -> QuerySet[Practitioner]:
    qs = Practitioner.objects.select_related("user", "facility").prefetch_related("departments")
    return qs.filter(departments__id=department_id) if department_id else qs
