"""What the hospital staff's home-nursing pages share: who may open them, and how a refusal is shown.

The pages themselves: ``views_assess`` (home-care nurses assess requests), ``views_dispatch`` (the dispatchers'
day board), ``views_review`` (supervisor nurses review flagged visits and corrections) and ``views_blocks``
(the administration blocks patients who endangered a nurse). Each act is one service call; a refusal is shown
in place, beside what it is about, with the service's message and status.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError
from ihospital.core.pages import role_page

from .models import NurseProfile
from .selectors import is_home_nurse, is_supervisor

# Why a nurse may not take a service (assessing.qualification_refusal), in words.
QUALIFICATION_REFUSALS = {
    "not_a_nurse": gettext_lazy("only nurses give home nursing"),
    "not_home_care": gettext_lazy("you are not registered for home nursing"),
    "licence_not_verified": gettext_lazy("your licence is not verified yet"),
    "too_few_years": gettext_lazy("it needs more years of practice"),
    "title_too_low": gettext_lazy("it needs a higher professional title"),
    "skill_missing": gettext_lazy("it needs a specialty you do not hold"),
}




def _home_nurse(user) -> bool:
    return is_home_nurse(user) and NurseProfile.objects.filter(user=user).exists()


home_nurse_page = role_page(_home_nurse, "not_a_home_nurse",
                           gettext_lazy("This page is for the hospital's home-care nurses."))
supervisor_page = role_page(lambda user: is_supervisor(user) and _home_nurse(user), "not_a_supervisor",
                           gettext_lazy("This page is for supervisor nurses of home nursing."))
dispatcher_page = role_page(lambda user: user.role == Role.DISPATCHER, "not_a_dispatcher",
                           gettext_lazy("Only dispatchers plan home visits."))
admin_page = role_page(lambda user: user.role == Role.ADMIN, "not_an_admin",
                      gettext_lazy("Only the hospital's administration can block or unblock a patient."))


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "code": exc.code, "link": exc.link}


def live_strings() -> dict:
    """What live.js writes into the live mark, in the reader's language."""
    return {"open": _("live"), "closed": _("reconnecting…"), "connecting": _("connecting…"),
            "refused": _("signed out: reload the page")}
