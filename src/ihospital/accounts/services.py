"""Every change to identities, sessions, proxies and consents. Atomic, checked, audited."""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.core import audit, context
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import transition

from .models import (
    CONSENT_VERSIONS,
    STAFF_ROLES,
    ApiToken,
    Consent,
    ConsentKind,
    PatientProfile,
    Proxy,
    ProxyStatus,
    Relationship,
    Role,
    StaffProfile,
    User,
)
from .validation import normalise_mobile, parse_resident_id, try_normalise_mobile

# ---- registration ----------------------------------------------------------------------------------------


def _check_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(
            "weak_password", " ".join(str(m) for m in exc.messages), fields={"password": exc.messages[0]}
        ) from None


def _check_real_name(real_name: str) -> str:
    name = (real_name or "").strip()
    if not 2 <= len(name) <= 64:
        raise DomainError(
            "invalid_real_name",
            _("Please enter your real name as written on your resident ID card."),
            fields={"real_name": _("2 to 64 characters")},
        )
    return name


@transaction.atomic
def register_patient(
    *,
    real_name: str,
    resident_id: str,
    phone: str,
    password: str,
    health_data_consent: bool,
    language: str = "",
) -> PatientProfile:
    """Create a real-name patient account. The separate consent to health-data processing is mandatory."""
    name = _check_real_name(real_name)
    rid = parse_resident_id(resident_id)
    mobile = normalise_mobile(phone)
    if not health_data_consent:
        raise DomainError(
            "consent_required",
            _("We can only keep a medical record for you with your separate consent to process health data."),
            fields={"health_data_consent": _("required")},
        )
    candidate = User(username=mobile, real_name=name, phone=mobile)
    _check_password(password, candidate)
    if User.objects.filter(phone=mobile).exists():
        raise DomainError("phone_taken", _("This mobile number is already registered. Please sign in."))
    if PatientProfile.objects.filter(resident_id=rid.number).exists():
        raise DomainError(
            "resident_id_taken",
            _("A patient with this resident ID number is already registered. Please sign in or contact us."),
        )
    languages = dict(settings.LANGUAGES)
    candidate.language = language if language in languages else settings.LANGUAGE_CODE
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            profile = PatientProfile.objects.create(
                user=candidate,
                resident_id=rid.number,
                birth_date=rid.birth_date,
                sex=rid.sex,
                mrn=f"T{candidate.pk}",
            )
    except IntegrityError:
        # Two registrations racing for the same phone or ID: the database decided, we explain.
        raise DomainError("already_registered", _("This person or number is already registered.")) from None
    profile.mrn = f"P{profile.pk:08d}"
    profile.save(update_fields=["mrn"])
    give_consent(actor=candidate, patient=profile, kind=ConsentKind.HEALTH_DATA)
    audit.record(actor=candidate, action=AuditAction.CREATE, obj=profile, patient_id=profile.pk)
    return profile


# ---- consent ---------------------------------------------------------------------------------------------------


def give_consent(*, actor: User, patient: PatientProfile, kind: str, subject: str = "") -> Consent:
    consent = Consent.objects.create(
        patient=patient,
        kind=kind,
        version=CONSENT_VERSIONS[kind],
        given_by=actor,
        subject=subject,
        ip=context.current().ip,
    )
    audit.record(actor=actor, action=AuditAction.CREATE, obj=consent, patient_id=patient.pk, detail={"kind": kind})
    return consent


def has_consent(patient: PatientProfile, kind: str, subject: str = "") -> bool:
    qs = Consent.objects.filter(patient=patient, kind=kind, withdrawn_at__isnull=True)
    if subject:
        qs = qs.filter(subject=subject)
    return qs.exists()


@transaction.atomic
def withdraw_consent(*, actor: User, consent_id: int) -> Consent:
    """Withdraw one's own consent. Withdrawing the proxy consent also ends that proxy link."""
    consent = Consent.objects.select_for_update().filter(pk=consent_id, patient__user=actor).first()
    if consent is None:
        raise NotFound()
    if consent.withdrawn_at is not None:
        raise DomainError("already_withdrawn", _("This consent was already withdrawn."))
    consent.withdrawn_at = timezone.now()
    consent.save(update_fields=["withdrawn_at"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=consent, patient_id=consent.patient_id,
                 detail={"withdrawn": consent.kind})
    if consent.kind == ConsentKind.PROXY:
        for proxy in Proxy.objects.filter(consent=consent, status=ProxyStatus.ACTIVE):
            transition(proxy, ProxyStatus.REVOKED, actor=actor, reason="consent withdrawn")
    return consent


def require_health_data_consent(patient: PatientProfile) -> None:
    """Withdrawal stops further processing: new chart entries are refused until consent is given again."""
    if not has_consent(patient, ConsentKind.HEALTH_DATA):
        raise DomainError(
            "consent_withdrawn",
            _("The patient has not consented (or withdrew consent) to processing of health data."),
            status=403,
        )


# ---- signing in ------------------------------------------------------------------------------------------------


def _find_login(identifier: str) -> User | None:
    identifier = (identifier or "").strip()
    mobile = try_normalise_mobile(identifier)
    if mobile:
        user = User.objects.filter(phone=mobile).first()
        if user:
            return user
    return User.objects.filter(username=identifier).first()


def _ip_key(ip: str) -> str:
    return f"login-fail-ip:{ip}"


def check_credentials(*, identifier: str, password: str) -> User:
    """Check a login and password with per-account lockout and per-address throttling.

    A locked account is refused before its password is checked, so guessing stops paying off.
    Each check first claims one of the account's remaining attempts with a conditional UPDATE, so concurrent
    guesses cannot slip past the limit: at most LOGIN_MAX_FAILURES passwords are checked per lockout period.
    """
    ip = context.current().ip
    if cache.get(_ip_key(ip), 0) >= settings.LOGIN_IP_MAX_FAILURES:
        raise DomainError("too_many_attempts", _("Too many failed sign-ins from here. Try again later."), status=429)
    user = _find_login(identifier)
    if user is not None and not _claim_attempt(user):
        _refuse_locked(user)
    if user is None or not user.is_active or not user.check_password(password):
        if user is None:
            User().set_password(password)  # spend the same time as a real check
        _count_failure(user, ip)
        raise DomainError("invalid_credentials", _("The mobile number/username or password is wrong."), status=401)
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    return user


def _claim_attempt(user: User) -> bool:
    """Take one attempt (failed_logins + 1) if the account is not locked and has attempts left."""
    now = timezone.now()
    return (
        User.objects.filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .filter(pk=user.pk, failed_logins__lt=settings.LOGIN_MAX_FAILURES)
        .update(failed_logins=F("failed_logins") + 1)
        == 1
    )


def _lock_if_exhausted(user: User) -> None:
    User.objects.filter(pk=user.pk, failed_logins__gte=settings.LOGIN_MAX_FAILURES).update(
        locked_until=timezone.now() + timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS), failed_logins=0
    )


def _refuse_locked(user: User) -> NoReturn:
    # No attempt left: either locked, or the last attempts are being checked right now (then lock already, so
    # an account can never stay without attempts and without a lock that expires).
    _lock_if_exhausted(user)
    user.refresh_from_db(fields=["locked_until", "failed_logins"])
    now = timezone.now()
    audit.record(actor=None, action=AuditAction.LOGIN, obj=user, outcome=AuditOutcome.DENIED,
                 detail={"reason": "locked"})
    remaining = (user.locked_until - now).total_seconds() if user.locked_until else settings.LOGIN_LOCKOUT_SECONDS
    minutes = max(1, int(remaining // 60) + 1)
    raise DomainError(
        "account_locked",
        _("This account is locked after repeated wrong passwords. Try again in %(minutes)d minutes.")
        % {"minutes": minutes},
        status=403,
    )


def _count_failure(user: User | None, ip: str, *, reason: str = "wrong password") -> None:
    """Record a failed secret. The account's attempt was already claimed (``_claim_attempt``) before checking."""
    # add() is atomic (it only writes a missing key), so concurrent first failures are all counted.
    cache.add(_ip_key(ip), 0, settings.LOGIN_LOCKOUT_SECONDS)
    try:
        cache.incr(_ip_key(ip))
    except ValueError:  # expired between add() and incr()
        cache.set(_ip_key(ip), 1, settings.LOGIN_LOCKOUT_SECONDS)
    if user is None:
        audit.record(actor=None, action=AuditAction.LOGIN, object_type="accounts.user",
                     outcome=AuditOutcome.FAILED, detail={"reason": "unknown login"})
        return
    _lock_if_exhausted(user)
    audit.record(actor=None, action=AuditAction.LOGIN, obj=user, outcome=AuditOutcome.FAILED,
                 detail={"reason": reason})


# Session key holding when the second factor was last typed in this session (ISO 8601).
SECOND_FACTOR_AT = "_second_factor_at"


def second_factor_is_fresh(session, *, minutes: int) -> bool:
    """Was the second factor typed in this session within the last ``minutes``?"""
    from datetime import datetime

    raw = session.get(SECOND_FACTOR_AT) if session is not None else None
    try:
        at = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return False
    return at is not None and timezone.now() - at <= timedelta(minutes=minutes)


def confirmed_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def verify_second_factor(*, user: User, code: str) -> TOTPDevice:
    device = confirmed_totp_device(user)
    code = (code or "").strip().replace(" ", "")
    if device is None:
        raise DomainError("second_factor_not_enrolled", _("Set up your authenticator app first."), status=401)
    if not code:
        # The password was right and the code is still to come: ask for it, it is not a failed attempt.
        raise DomainError("second_factor_required", _("Staff must confirm the 6-digit code."), status=401)
    # Codes draw on the same attempts as passwords, so a locked account cannot go on guessing codes either.
    if not _claim_attempt(user):
        _refuse_locked(user)
    if not code.isdigit() or not device.verify_token(code):
        _count_failure(user, context.current().ip, reason="wrong second factor")
        raise DomainError("invalid_second_factor", _("The 6-digit code is wrong or expired."), status=401)
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    return device


def start_totp_enrolment(*, user: User) -> TOTPDevice:
    """Give a staff member without an authenticator a new, unconfirmed TOTP secret to scan."""
    if confirmed_totp_device(user):
        raise DomainError("second_factor_enrolled", _("An authenticator is already set up for this account."))
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def confirm_totp_enrolment(*, user: User, code: str) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or not (code or "").strip().isdigit() or not device.verify_token(code.strip()):
        raise DomainError("invalid_second_factor", _("The 6-digit code is wrong or expired."), status=401)
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(actor=user, action=AuditAction.UPDATE, obj=user, detail={"totp": "enrolled"})
    return device


def record_login(user: User) -> None:
    audit.record(actor=user, action=AuditAction.LOGIN, obj=user)


def issue_api_token(*, user: User, otp_verified: bool, name: str = "") -> str:
    if user.needs_second_factor and not otp_verified:
        raise DomainError("second_factor_required", _("Staff must confirm the 6-digit code."), status=401)
    key = ApiToken.new_key()
    ApiToken.objects.create(
        user=user,
        key_hash=ApiToken.hash_key(key),
        name=name[:64],
        otp_verified=otp_verified,
        expires_at=timezone.now() + timedelta(hours=settings.API_TOKEN_TTL_HOURS),
    )
    return key


def revoke_api_token(*, key: str) -> None:
    ApiToken.objects.filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True).update(revoked_at=timezone.now())


# ---- preferences -----------------------------------------------------------------------------------------------


def set_preferences(*, user: User, language: str | None = None, elder_mode: bool | None = None) -> User:
    fields = []
    if language is not None:
        if language not in dict(settings.LANGUAGES):
            raise DomainError("invalid_language", _("This language is not available."))
        user.language = language
        fields.append("language")
    if elder_mode is not None:
        user.elder_mode = bool(elder_mode)
        fields.append("elder_mode")
    if fields:
        user.save(update_fields=fields)
    return user


# ---- staff -------------------------------------------------------------------------------------------------


@transaction.atomic
def create_staff(
    *,
    username: str,
    real_name: str,
    role: str,
    password: str,
    employee_no: str,
    phone: str = "",
    created_by: User | None = None,
) -> User:
    if role not in STAFF_ROLES:
        raise DomainError("invalid_role", _("Unknown staff role."))
    name = _check_real_name(real_name)
    if User.objects.filter(username=username).exists():
        raise DomainError("username_taken", _("This username is taken."))
    mobile = normalise_mobile(phone) if phone else None
    user = User(username=username, real_name=name, role=role, phone=mobile, is_staff=role == Role.ADMIN)
    _check_password(password, user)
    user.set_password(password)
    user.save()
    StaffProfile.objects.create(user=user, employee_no=employee_no, verified_at=timezone.now(), verified_by=created_by)
    audit.record(actor=created_by, action=AuditAction.CREATE, obj=user, detail={"role": role})
    return user


# ---- proxies ---------------------------------------------------------------------------------------------------


def _patient_of(user: User) -> PatientProfile:
    profile = PatientProfile.objects.filter(user=user).first()
    if profile is None:
        raise Forbidden("not_a_patient", _("Only a registered patient can do this."))
    return profile


def _check_relationship(relationship: str) -> None:
    if relationship not in Relationship.values:
        raise DomainError("invalid_relationship", _("Please choose how you are related."))


@transaction.atomic
def invite_proxy(
    *, patient_user: User, proxy_phone: str, proxy_real_name: str, relationship: str, consent: bool
) -> Proxy:
    """The patient names a registered relative to act for them, consenting in the same act."""
    patient = _patient_of(patient_user)
    _check_relationship(relationship)
    mobile = normalise_mobile(proxy_phone)
    relative = User.objects.filter(phone=mobile, role=Role.PATIENT).first()
    # The real name must match too, so a mistyped number cannot hand a stranger the chart.
    if relative is None or relative.real_name != (proxy_real_name or "").strip():
        raise DomainError(
            "proxy_not_found",
            _("No registered person with this mobile number and real name. Ask your relative to register first."),
        )
    if relative.pk == patient_user.pk:
        raise DomainError("proxy_self", _("You cannot be your own proxy."))
    if not consent:
        raise DomainError("consent_required", _("Please confirm that you authorise this relative to act for you."))
    require_health_data_consent(patient)
    try:
        with transaction.atomic():
            proxy = Proxy.objects.create(
                patient=patient, proxy_user=relative, relationship=relationship,
                status=ProxyStatus.PENDING, requested_by=patient_user,
            )
    except IntegrityError:
        raise DomainError("proxy_exists", _("This relative is already your proxy or waiting for approval.")) from None
    proxy.consent = give_consent(
        actor=patient_user, patient=patient, kind=ConsentKind.PROXY, subject=f"proxy:{proxy.pk}"
    )
    proxy.save(update_fields=["consent"])
    transition(proxy, ProxyStatus.ACTIVE, actor=patient_user, reason="invited by the patient with consent")
    audit.record(actor=patient_user, action=AuditAction.CREATE, obj=proxy, patient_id=patient.pk)
    return proxy


@transaction.atomic
def request_proxy(
    *, proxy_user: User, patient_phone: str, patient_real_name: str, relationship: str
) -> Proxy:
    """A relative asks to act for a patient. Nothing is granted until the patient consents."""
    if proxy_user.role != Role.PATIENT:
        # Staff reach charts through care relationships, never by becoming somebody's relative on the platform.
        raise Forbidden("proxy_must_be_personal_account", _("Act for a relative from your personal account."))
    _check_relationship(relationship)
    mobile = normalise_mobile(patient_phone)
    patient = PatientProfile.objects.select_related("user").filter(user__phone=mobile).first()
    if patient is None or patient.user.real_name != (patient_real_name or "").strip():
        raise DomainError("patient_not_found", _("No registered patient with this mobile number and real name."))
    if patient.user_id == proxy_user.pk:
        raise DomainError("proxy_self", _("You cannot be your own proxy."))
    try:
        with transaction.atomic():
            proxy = Proxy.objects.create(
                patient=patient, proxy_user=proxy_user, relationship=relationship, requested_by=proxy_user
            )
    except IntegrityError:
        raise DomainError("proxy_exists", _("You already asked, or already act for this patient.")) from None
    audit.record(actor=proxy_user, action=AuditAction.CREATE, obj=proxy, patient_id=patient.pk)
    return proxy


def _own_proxy_link(patient_user: User, proxy_id: int) -> Proxy:
    proxy = Proxy.objects.select_for_update().filter(pk=proxy_id, patient__user=patient_user).first()
    if proxy is None:
        raise NotFound()
    return proxy


@transaction.atomic
def approve_proxy(*, patient_user: User, proxy_id: int, consent: bool) -> Proxy:
    proxy = _own_proxy_link(patient_user, proxy_id)
    if not consent:
        raise DomainError("consent_required", _("Please confirm that you authorise this relative to act for you."))
    require_health_data_consent(proxy.patient)
    if proxy.status != ProxyStatus.PENDING:
        raise DomainError("invalid_transition", _("This request is no longer waiting for approval."), status=409)
    consent_row = give_consent(actor=patient_user, patient=proxy.patient, kind=ConsentKind.PROXY,
                               subject=f"proxy:{proxy.pk}")
    transition(proxy, ProxyStatus.ACTIVE, actor=patient_user, reason="approved with consent", consent=consent_row)
    return proxy


@transaction.atomic
def decline_proxy(*, patient_user: User, proxy_id: int) -> Proxy:
    proxy = _own_proxy_link(patient_user, proxy_id)
    transition(proxy, ProxyStatus.DECLINED, actor=patient_user)
    return proxy


@transaction.atomic
def revoke_proxy(*, actor: User, proxy_id: int, reason: str = "") -> Proxy:
    """Either side may end the link: the patient, or the relative stepping down."""
    proxy = (
        Proxy.objects.select_for_update()
        .filter(pk=proxy_id)
        .filter(Q(patient__user=actor) | Q(proxy_user=actor))
        .first()
    )
    if proxy is None:
        raise NotFound()
    transition(proxy, ProxyStatus.REVOKED, actor=actor, reason=reason)
    if proxy.consent_id:
        Consent.objects.filter(pk=proxy.consent_id, withdrawn_at__isnull=True).update(withdrawn_at=timezone.now())
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=proxy, patient_id=proxy.patient_id,
                 detail={"status": "revoked"})
    return proxy

