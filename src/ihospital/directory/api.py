from __future__ import annotations

from ninja import Router, Schema

from . import selectors

router = Router(tags=["directory"])


class FacilityOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    level: str
    city: str


class DepartmentOut(Schema):
    id: int
    code: str
    name: str
    facility_id: int
    offers_online_visits: bool


class PractitionerOut(Schema):
    id: int
    name: str
    profession: str
    title: str
    title_display: str
    specialties: list[str]
    years_of_practice: int
    can_practise_online: bool
    facility_id: int

    @staticmethod
    def resolve_name(obj):
        return obj.user.real_name

    @staticmethod
    def resolve_title_display(obj):
        return str(obj.get_title_display())

    @staticmethod
    def resolve_years_of_practice(obj):
        return obj.years_of_practice()

    @staticmethod
    def resolve_can_practise_online(obj):
        return obj.can_practise_online()


@router.get("/facilities", response=list[FacilityOut], auth=None)
def list_facilities(request):
    return list(selectors.facilities())


@router.get("/departments", response=list[DepartmentOut], auth=None)
def list_departments(request, facility: str | None = None):
    return list(selectors.departments(facility))


@router.get("/practitioners", response=list[PractitionerOut], auth=None)
def list_practitioners(request, department_id: int | None = None):
    return list(selectors.practitioners(department_id))
