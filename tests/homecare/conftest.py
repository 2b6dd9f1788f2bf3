"""Fixtures of the home-nursing tests: the catalogue, a 70-year-old patient with a record at the hospital, a
relative as proxy, home-care nurses, a dispatcher, and the payments sandbox."""

from __future__ import annotations

import pytest

from tests.pharmacy import conftest as pharmacy
from tests.visits import conftest as visits

_own_channel_layer = visits._own_channel_layer
flow = pharmacy.flow


@pytest.fixture(autouse=True)
def _homecare_settings(settings):
    settings.PAYMENT_PROVIDER = "sandbox"
    settings.PAYMENT_PROVIDERS = ["sandbox"]
    settings.PAYMENTS_SANDBOX_DELAY_SECONDS = 0
    settings.PAYMENTS_SANDBOX_SECRET = "test-sandbox-secret"
    settings.SITE_URL = "http://testserver"
    settings.HOMECARE_GEOCODER = "addressbook"
    settings.HOMECARE_TRAVEL_MATRIX = "haversine"
    settings.HOMECARE_DISPATCH_SECONDS = 0.5


@pytest.fixture
def elder(db):
    """李奶奶's neighbour: 70, an outpatient visit here last month."""
    from tests.homecare.factories import eligible_patient, load_catalogue

    load_catalogue()
    return eligible_patient(age=70)


@pytest.fixture
def relative(elder):
    from ihospital.accounts import services as accounts
    from tests.factories import PatientFactory

    person = PatientFactory()
    accounts.invite_proxy(patient_user=elder.user, proxy_phone=person.user.phone,
                          proxy_real_name=person.user.real_name, relationship="child", consent=True)
    return person.user


@pytest.fixture
def nurse(db):
    from tests.homecare.factories import home_nurse

    return home_nurse()


@pytest.fixture
def other_nurse(db):
    from tests.homecare.factories import home_nurse

    return home_nurse()


@pytest.fixture
def dispatcher(db):
    from tests.homecare.factories import dispatcher

    return dispatcher()


@pytest.fixture
def admin_user(db):
    from ihospital.accounts.models import Role
    from tests.factories import StaffUserFactory

    return StaffUserFactory(role=Role.ADMIN)


@pytest.fixture
def guard(db):
    from ihospital.accounts.models import Role
    from tests.factories import StaffUserFactory

    return StaffUserFactory(role=Role.SECURITY)
