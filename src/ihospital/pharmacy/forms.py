"""Forms of the medicine order pages. They only parse what was typed; what is allowed is decided by ``services``
(a refusal comes back as a ``DomainError`` and is shown beside the field it names)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Fulfilment, OrderStatus

PICKUP = "pickup"


class AddressForm(forms.Form):
    """A new delivery address (``services.save_address`` validates the mobile number and the rest)."""

    recipient = forms.CharField(label=_("Recipient"), max_length=64, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "name"}))
    phone = forms.CharField(label=_("Recipient's mobile number"), max_length=20, required=False,
                            widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}))
    province = forms.CharField(label=_("Province"), max_length=32, required=False,
                               widget=forms.TextInput(attrs={"autocomplete": "address-level1"}))
    city = forms.CharField(label=_("City"), max_length=32, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "address-level2"}))
    district = forms.CharField(label=_("District"), max_length=32, required=False,
                               widget=forms.TextInput(attrs={"autocomplete": "address-level3"}))
    detail = forms.CharField(label=_("Street, building and room"), max_length=200, required=False,
                             widget=forms.TextInput(attrs={"autocomplete": "street-address"}))
    postal_code = forms.CharField(label=_("Postal code"), max_length=6, required=False,
                                  widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}))
    label = forms.CharField(label=_("Name this address"), max_length=32, required=False,
                            help_text=_("For example: home, my daughter's home."))

    def values(self) -> dict:
        return {name: self.cleaned_data.get(name, "") for name in self.fields}


class DestinationForm(forms.Form):
    """Where the medicines go: one saved address (``address:<id>``) or pickup at the pharmacy."""

    destination = forms.CharField(required=False, max_length=32)

    @staticmethod
    def parse(value: str) -> tuple[str, int | None]:
        """(fulfilment, address id) of a choice; an unreadable choice is delivery to no address (refused)."""
        value = (value or "").strip()
        if value == PICKUP:
            return Fulfilment.PICKUP, None
        kind, _sep, number = value.partition(":")
        if kind == "address" and number.isdigit():
            return Fulfilment.DELIVERY, int(number)
        return Fulfilment.DELIVERY, None


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}))


CHOICE_ANY = [("", _("all"))]


class DashboardForm(forms.Form):
    """The filters of the pharmacy's orders dashboard (GET)."""

    q = forms.CharField(label=_("Order, prescription or tracking number, or MRN"), required=False, max_length=64,
                        widget=forms.TextInput(attrs={"type": "search"}))
    status = forms.ChoiceField(label=_("Status"), required=False, choices=CHOICE_ANY + list(OrderStatus.choices))
    fulfilment = forms.ChoiceField(label=_("Delivery or pickup"), required=False,
                                   choices=CHOICE_ANY + [(Fulfilment.DELIVERY, _("delivery")),
                                                         (Fulfilment.PICKUP, _("pickup"))])
    cold_chain = forms.ChoiceField(label=_("Cold chain"), required=False,
                                   choices=CHOICE_ANY + [("yes", _("cold chain only")), ("no", _("no cold chain"))])
    since = forms.DateField(label=_("Ordered from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Ordered until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def filters(self) -> dict:
        """What the selector filters by: the valid filters, all but the status (the counts per status are of the
        other filters). Call after ``is_valid()``; a filter typed wrong is left out (and marked on the form)."""
        data = {k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}
        cold = data.get("cold_chain")
        return {
            "fulfilment": data.get("fulfilment") or "",
            "cold_chain": True if cold == "yes" else False if cold == "no" else None,
            "since": data.get("since"),
            "until": data.get("until"),
            "query": (data.get("q") or "").strip(),
        }

    def chosen_status(self) -> str:
        return "" if "status" in self.errors else getattr(self, "cleaned_data", {}).get("status") or ""
