from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth import logout
from ninja import Router, Schema, Status

from . import selectors, services

router = Router(tags=["accounts"])


class RegisterIn(Schema):
    real_name: str
    resident_id: str
    phone: str
    password: str
    health_data_consent: bool
    language: str = ""


class PatientOut(Schema):
    id: int
    mrn: str
    real_name: str
    birth_date: date
    sex: str
    age: int
    masked_resident_id: str

    @staticmethod
    def resolve_real_name(obj):
        return obj.user.real_name

    @staticmethod
    def resolve_age(obj):
        return obj.age()


class TokenIn(Schema):
    login: str
    password: str
    otp: str = ""
    name: str = ""


class TokenOut(Schema):
    token: str
    expires_in_hours: int


class MeOut(Schema):
    id: int
    username: str
    real_name: str
    role: str
    language: str
    elder_mode: bool
    patients: list[PatientOut]


class PreferencesIn(Schema):
    language: str | None = None
    elder_mode: bool | None = None


class ProxyOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    proxy_name: str
    relationship: str
    status: str

    @staticmethod
    def resolve_patient_name(obj):
        return obj.patient.user.real_name

    @staticmethod
    def resolve_proxy_name(obj):
        return obj.proxy_user.real_name


class InviteProxyIn(Schema):
    proxy_phone: str
    proxy_real_name: str
    relationship: str
    consent: bool


class RequestProxyIn(Schema):
    patient_phone: str
    patient_real_name: str
    relationship: str


class ConsentIn(Schema):
    consent: bool


class ConsentOut(Schema):
    id: int
    kind: str
    version: str
    granted_at: str
    withdrawn_at: str | None
    subject: str

    @staticmethod
    def resolve_granted_at(obj):
        return obj.granted_at.isoformat()

    @staticmethod
    def resolve_withdrawn_at(obj):
        return obj.withdrawn_at.isoformat() if obj.withdrawn_at else None


@router.post("/auth/register", auth=None, response={201: PatientOut})
def register(request, payload: RegisterIn):
    profile = services.register_patient(**payload.dict())
    return Status(201, profile)


@router.post("/auth/token", auth=None, response={201: TokenOut})
def create_token(request, payload: TokenIn):
    user = services.check_credentials(identifier=payload.login, password=payload.password)
    otp_verified = False
    if user.needs_second_factor:
        services.verify_second_factor(user=user, code=payload.otp)
        otp_verified = True
    token = services.issue_api_token(user=user, otp_verified=otp_verified, name=payload.name)
    services.record_login(user)
    return Status(201, {"token": token, "expires_in_hours": settings.API_TOKEN_TTL_HOURS})


@router.post("/auth/logout", response={204: None})
def sign_out(request):
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        services.revoke_api_token(key=header.split(" ", 1)[1].strip())
    else:
        logout(request)
    return Status(204, None)


@router.get("/me", response=MeOut)
def me(request):
    user = request.auth
    return {
        "id": user.pk,
        "username": user.username,
        "real_name": user.real_name,
        "role": user.role,
        "language": user.language,
        "elder_mode": user.elder_mode,
        "patients": list(selectors.patients_acted_for(user)),
    }


@router.patch("/me/preferences", response=MeOut)
def preferences(request, payload: PreferencesIn):
    services.set_preferences(user=request.auth, language=payload.language, elder_mode=payload.elder_mode)
    return me(request)


@router.get("/proxies", response=list[ProxyOut])
def list_proxies(request):
    rows = list(selectors.proxies_of_patient(request.auth).select_related("patient__user"))
    rows += list(selectors.proxy_links_of_relative(request.auth).select_related("proxy_user"))
    return rows


@router.post("/proxies/invite", response={201: ProxyOut})
def invite_proxy(request, payload: InviteProxyIn):
    return Status(201, services.invite_proxy(patient_user=request.auth, **payload.dict()))


@router.post("/proxies/request", response={201: ProxyOut})
def request_proxy(request, payload: RequestProxyIn):
    return Status(201, services.request_proxy(proxy_user=request.auth, **payload.dict()))


@router.post("/proxies/{proxy_id}/approve", response=ProxyOut)
def approve_proxy(request, proxy_id: int, payload: ConsentIn):
    return services.approve_proxy(patient_user=request.auth, proxy_id=proxy_id, consent=payload.consent)


@router.post("/proxies/{proxy_id}/decline", response=ProxyOut)
def decline_proxy(request, proxy_id: int):
    return services.decline_proxy(patient_user=request.auth, proxy_id=proxy_id)


@router.post("/proxies/{proxy_id}/revoke", response=ProxyOut)
def revoke_proxy(request, proxy_id: int):
    return services.revoke_proxy(actor=request.auth, proxy_id=proxy_id)


@router.get("/consents", response=list[ConsentOut])
def list_consents(request):
    return list(selectors.consents_of(request.auth))


@router.post("/consents/{consent_id}/withdraw", response=ConsentOut)
def withdraw_consent(request, consent_id: int):
    return services.withdraw_consent(actor=request.auth, consent_id=consent_id)


