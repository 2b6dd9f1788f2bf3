"""Reads of identities, always scoped to the asking user."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from ihospital.core.errors import NotFound

from .models import Consent, ConsentKind, PatientProfile, Proxy, ProxyStatus, User


def patients_acted_for(user: User) -> QuerySet[PatientProfile]:
    """The patient profiles this user may act for: their own, and those of patients whose active proxy they are.

    A proxy link counts only while it is active *and* its consent has not been withdrawn.
    """
    if not user.is_authenticated:
        return PatientProfile.objects.none()
    live_consent = Consent.objects.filter(
        pk=OuterRef("consent_id"), kind=ConsentKind.PROXY, withdrawn_at__isnull=True
    )
    proxied = (
        Proxy.objects.filter(proxy_user=user, status=ProxyStatus.ACTIVE)
        .annotate(consented=Exists(live_consent))
        .filter(consented=True)
        .values("patient_id")
    )
    return PatientProfile.objects.filter(Q(user=user) | Q(pk__in=proxied)).select_related("user")


def patient_and_relatives(patient: PatientProfile) -> list[User]:
    """Who hears about a patient's care: the patient and every relative who may act for them now (an active proxy
    link whose consent has not been withdrawn, the same test as ``patients_acted_for``)."""
    live_consent = Consent.objects.filter(
        pk=OuterRef("consent_id"), kind=ConsentKind.PROXY, withdrawn_at__isnull=True
    )
    links = (
        Proxy.objects.filter(patient=patient, status=ProxyStatus.ACTIVE)
        .annotate(consented=Exists(live_consent))
        .filter(consented=True)
        .select_related("proxy_user")
    )
    return [patient.user] + [link.proxy_user for link in links]


def patient_acted_for(user: User, patient_id: int) -> PatientProfile:
    patient = patients_acted_for(user).filter(pk=patient_id).first()
    if patient is None:
        raise NotFound()
    return patient


def proxies_of_patient(user: User) -> QuerySet[Proxy]:
    """The relatives linked to the user's own patient record (as patient)."""
    return Proxy.objects.filter(patient__user=user).select_related("proxy_user").order_by("-created_at")


def proxy_links_of_relative(user: User) -> QuerySet[Proxy]:
    """The patients the user asked to act for, or acts for (as relative)."""
    return Proxy.objects.filter(proxy_user=user).select_related("patient__user").order_by("-created_at")


def consents_of(user: User) -> QuerySet[Consent]:
    return Consent.objects.filter(patient__user=user).order_by("-granted_at")
