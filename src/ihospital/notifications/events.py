"""The events a notification can be about, and what the outside channels may say about each.

Workflows call ``notify(kind=...)`` with a kind such as ``"order.shipped"`` or ``"teleconsult.escalation.first.2"``.
The registry maps each kind (exact, or through a pattern such as ``"order.refunded*"`` or ``"homecare.alarm.*"``;
the most specific pattern wins) to:

* a **category** (``visit``, ``prescription``, ``order``, ``payment``, ``diagnostics``, ``homecare``,
  ``teleconsult``, ``security``, ``other``): what users opt out of on their preferences page, and what picks the
  WeChat template;
* a **neutral text** for the outside channels (WeChat template message, SMS, e-mail). It names the kind of event and
  nothing else: no diagnosis, no drug, no test, no value, no name. The in-app notification keeps the workflow's own
  title and body (it is read behind the sign-in); what leaves the platform is this text and a link;
* whether the event is **urgent** (security alarms, critical results): never postponed by quiet hours, never muted by
  a category opt-out;
* the **WeChat template data keys** the text is put in.

Texts are lazy translations (msgids in English, zh-Hans in the catalogue); they are rendered in the recipient's
language.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

CATEGORIES: dict[str, object] = {
    "visit": pgettext_lazy("notification category", "Online visits"),
    "prescription": pgettext_lazy("notification category", "Prescriptions and refills"),
    "order": pgettext_lazy("notification category", "Medicine orders and delivery"),
    "payment": pgettext_lazy("notification category", "Payments and refunds"),
    "diagnostics": pgettext_lazy("notification category", "Tests and results"),
    "homecare": pgettext_lazy("notification category", "Home nursing"),
    "teleconsult": pgettext_lazy("notification category", "Remote consultations"),
    "security": pgettext_lazy("notification category", "Security alarms"),
    "other": pgettext_lazy("notification category", "Other"),
}

# Categories a user may not switch off (the outside channels still follow the user's channel switches).
UNMUTABLE_CATEGORIES = frozenset({"security"})

# The keys of a WeChat template message ("first" line, two keywords, "remark"), as WeChat's industry templates
# for service notices use them. The Official Account's templates are set up with these keys.
DEFAULT_DATA_KEYS = ("first", "keyword1", "keyword2", "remark")


@dataclass(frozen=True)
class Event:
    pattern: str
    category: str
    text: object  # a lazy translation
    urgent: bool = False
    data_keys: tuple[str, ...] = DEFAULT_DATA_KEYS

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact kinds first, then the pattern with the longest fixed prefix."""
        return (0 if "*" in self.pattern else 1, len(self.pattern.replace("*", "")))

    def matches(self, kind: str) -> bool:
        return fnmatchcase(kind, self.pattern)

    def external_text(self) -> str:
        return str(self.text)

    def category_label(self) -> str:
        return str(CATEGORIES[self.category])


REGISTRY: list[Event] = []


def register(pattern: str, category: str, text, *, urgent: bool = False,
             data_keys: tuple[str, ...] = DEFAULT_DATA_KEYS) -> Event:
    if category not in CATEGORIES:
        raise ValueError(f"unknown notification category {category!r}")
    if any(e.pattern == pattern for e in REGISTRY):
        raise ValueError(f"notification event {pattern!r} registered twice")
    event = Event(pattern=pattern, category=category, text=text, urgent=urgent, data_keys=data_keys)
    REGISTRY.append(event)
    return event


FALLBACK = Event(pattern="*", category="other", text=_("You have a new notification. Open it to see the details."))


def lookup(kind: str) -> Event:
    """The most specific registered event for ``kind`` (the fallback ``*`` of category "other" if none)."""
    best = None
    for event in REGISTRY:
        if event.matches(kind) and (best is None or event.specificity > best.specificity):
            best = event
    return best or FALLBACK


def is_registered(kind: str) -> bool:
    return lookup(kind) is not FALLBACK


# ---- the events -------------------------------------------------------------------------------------------------
# Online follow-up visits
register("visit.accepted", "visit", _("Your online visit was accepted by the doctor. Open it to continue."))
register("visit.replied", "visit", _("The doctor replied in your online visit. Open it to read the reply."))
register("visit.reminder", "visit", _("Your online visit starts soon. Open it a few minutes early."))
register("visit.unanswered", "visit", _("A patient is waiting for an answer in an online visit."))
register("visit.*", "visit", _("There is an update on an online visit. Open it to see the details."))
# Prescriptions and refills
register("prescription.approved", "prescription",
         _("There is a pharmacist review result for your prescription. Open it to see the details."))
register("prescription.rejected", "prescription",
         _("There is a pharmacist review result for a prescription. Open it to see the details."))
register("prescription.cancelled", "prescription", _("A prescription was cancelled. Open it to see the details."))
register("prescription.*", "prescription", _("There is an update on a prescription. Open it to see the details."))
register("refill.requested", "prescription", _("A refill request is waiting for your decision."))
register("refill.*", "prescription",
         _("The doctor has decided on your refill request. Open it to see the details."))
# Medicine orders, payments and refunds
register("order.paid", "payment", _("Your payment was received. Open your order to see the details."))
register("order.refunded*", "payment", _("A refund for your order is on its way. Open it to see the details."))
register("order.dispensing", "order", _("The pharmacy is preparing your order."))
register("order.ready", "order", _("Your order is ready. Open it to see where and when to collect it."))
register("order.shipped", "order", _("Your order has been shipped. Open it to follow the parcel."))
register("order.delivered", "order", _("Your order was delivered."))
register("order.failed", "order", _("The delivery of your order failed. Open it to see what happens next."))
register("order.cancelled", "order", _("Your order was cancelled. Open it to see the details."))
register("order.tracking*", "order", _("There is a delivery update for your order."))
register("order.*", "order", _("There is an update on your order. Open it to see the details."))
register("payment.*", "payment", _("There is an update on a payment. Open it to see the details."))
# Tests and results
register("diagnostics.ordered", "diagnostics", _("A test was ordered for you. Open it to book a time."))
register("diagnostics.booked", "diagnostics",
         _("Your test appointment is booked. Open it to read how to prepare."))
register("diagnostics.reminder", "diagnostics",
         _("Reminder: you have a test appointment soon. Open it to read how to prepare."))
register("diagnostics.released", "diagnostics", _("Your test result is ready. Open it to see the details."))
register("diagnostics.critical", "diagnostics", _("A critical result needs your attention now. Open it at once."),
         urgent=True)
register("diagnostics.*", "diagnostics", _("There is an update on a test. Open it to see the details."))
# Home nursing
register("homecare.accepted", "homecare", _("Your home nursing request was accepted."))
register("homecare.declined", "homecare", _("Your home nursing request was declined. Open it to see why."))
register("homecare.scheduled", "homecare", _("Your home nursing visit is scheduled. Open it to see the time."))
register("homecare.cancelled", "homecare", _("A home nursing visit was cancelled. Open it to see the details."))
register("homecare.en_route", "homecare", _("Your nurse is on the way."))
register("homecare.arrived", "homecare", _("Your nurse has arrived."))
register("homecare.completed", "homecare", _("Your home nursing visit is completed."))
register("homecare.turned_back", "homecare", _("Your nurse had to turn back. Open the visit to see what happens next."))
register("homecare.paid", "payment", _("Your payment for a home nursing visit was received."))
register("homecare.refunded*", "payment", _("A refund for a home nursing visit is on its way."))
register("homecare.alarm.acknowledged", "security", _("Security has your alarm and is responding."), urgent=True)
register("homecare.alarm.*", "security", _("Security alarm: a nurse needs help. Open the security page now."),
         urgent=True)
register("homecare.*", "homecare", _("There is an update on home nursing. Open it to see the details."))
# Remote consultations
register("teleconsult.consent", "teleconsult",
         _("A doctor asks for your consent to a remote consultation. Open it to answer."))
register("teleconsult.reported", "teleconsult", _("A consultation report is ready. Open it to read it."))
register("teleconsult.session_scheduled", "teleconsult", _("A remote consultation session is scheduled."))
register("teleconsult.session_cancelled", "teleconsult", _("A remote consultation session was cancelled."))
register("teleconsult.submitted.*", "teleconsult", _("A new remote consultation request is waiting for triage."))
register("teleconsult.assigned.*", "teleconsult", _("A remote consultation request was assigned to you."))
register("teleconsult.escalation.*", "teleconsult", _("A remote consultation request is overdue. Open it now."))
register("teleconsult.*", "teleconsult",
         _("There is an update on a remote consultation. Open it to see the details."))
# Accounts and security
register("security.*", "security", _("Security notice for your account. Open it to see the details."), urgent=True)
register("account.*", "other", _("There is an update on your account. Open it to see the details."))
