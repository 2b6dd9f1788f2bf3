"""``demo_otp`` prints a code the sign-in will accept, even right after another sign-in of the same account."""

from io import StringIO

import pytest
from django.core.management import call_command

from ihospital.accounts.services import verify_second_factor
from tests.factories import StaffUserFactory, TOTPDeviceFactory

pytestmark = pytest.mark.django_db


def _code() -> str:
    out = StringIO()
    call_command("demo_otp", "dr.wang", stdout=out)
    return out.getvalue().strip()


def test_two_sign_ins_within_one_step_each_get_a_code_that_is_accepted():
    user = StaffUserFactory(username="dr.wang")
    TOTPDeviceFactory(user=user)
    first = _code()
    verify_second_factor(user=user, code=first)
    second = _code()
    assert second != first  # the step's code was used: the next step's, which the tolerance accepts now
    verify_second_factor(user=user, code=second)
