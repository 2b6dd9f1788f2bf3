"""What the consultation page tests share: a signed-in client and a request's one address."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from ihospital.accounts.models import Role
from tests.factories import TOTPDeviceFactory
from tests.helpers import verify_session


def client_for(user) -> Client:
    """Signed in (staff with the second factor), in English so the assertions read the msgids."""
    user.language = "en"
    user.save(update_fields=["language"])
    client = Client()
    client.force_login(user)
    if user.role != Role.PATIENT:
        verify_session(client, user.totpdevice_set.first() or TOTPDeviceFactory(user=user))
    return client


def page(consult) -> str:
    return reverse("teleconsult:request", args=[consult.pk])
