"""Fixtures for the prescription tests: the visit tests' department, consulting doctor, diagnosis and proxy, a
channel layer of each test's own, a pharmacist, and a signed chronic prescription.

Broadcasts and tasks are sent in ``transaction.on_commit``; the tests that look at them wrap the act in
``django_capture_on_commit_callbacks(execute=True)`` instead of paying for ``transaction=True``.
"""

from __future__ import annotations

import pytest

from tests.visits import conftest as visits

# The visit tests' fixtures, shared: a channel layer of each test's own (autouse), the department and its consulting
# doctor, the patient's in-person hypertension diagnosis and a relative acting as proxy.
_own_channel_layer = visits._own_channel_layer
department = visits.department
doc = visits.doc
diagnosis = visits.diagnosis
relative = visits.relative


@pytest.fixture
def pharmacist(db):
    from tests.prescriptions.factories import pharmacist_user

    return pharmacist_user()


@pytest.fixture
def visit(patient, doc, diagnosis):
    """An online visit in progress, for the patient's accepted hypertension."""
    from tests.prescriptions.factories import visit_in_progress

    return visit_in_progress(patient, doc, diagnosis)


@pytest.fixture
def rx(doc, patient, diagnosis):
    """A signed chronic prescription (amlodipine 5 mg qd × 28 days, two refills), waiting for a pharmacist."""
    from tests.prescriptions.factories import signed

    return signed(doc, patient, condition=diagnosis, refills_allowed=2)
