import pytest


@pytest.fixture
def hospital_admin(db):
    from tests.scheduling.factories import AdminUserFactory

    return AdminUserFactory()
