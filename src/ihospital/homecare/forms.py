"""Forms of the patient's home-nursing pages. They only parse and draw what was typed; what is allowed is decided
by the services (``booking``, ``billing``, ``visiting``), whose refusal comes back as a ``DomainError`` and is shown
beside the field it names. So every field is optional here: an empty one reaches the service, which says why."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ihospital.records.models import DocumentKind

from .booking import day_hours
from .models import EligibleGroup, NursingService

# What a supporting document can be (a wound photo has its own field).
EVIDENCE_KINDS = [
    (DocumentKind.DISCHARGE_SUMMARY, _("discharge summary")),
    (DocumentKind.DIAGNOSIS_CERTIFICATE, _("diagnosis or disability certificate")),
    (DocumentKind.INPATIENT_RECORD, _("inpatient record")),
    (DocumentKind.OUTPATIENT_RECORD, _("outpatient record")),
    (DocumentKind.OTHER, _("other document")),
]

# What the booking form says under each group: what the hospital checks, and what to attach.
GROUP_HINTS = {
    EligibleGroup.ELDERLY: _("%(age)s years or older (from the resident ID)."),
    EligibleGroup.DISABLED: _("Cannot easily leave home: attach a disability or diagnosis certificate."),
    EligibleGroup.CONVALESCENT: _("Discharged from this hospital in the last %(days)s days, or attach the "
                                  "discharge summary."),
    EligibleGroup.TERMINAL: _("Terminally ill with limited mobility: attach a diagnosis certificate or hospital "
                              "record."),
    EligibleGroup.MOTHER_NEWBORN: _("A baby under one year, or a mother after giving birth (attach the discharge "
                                    "summary of the delivery)."),
}


def time_choices(step_minutes: int = 30) -> list[tuple[str, str]]:
    """Every half hour of the nurses' day, as the window's choices."""
    opens, closes = day_hours()
    moment, end, choices = datetime.combine(datetime.min, opens), datetime.combine(datetime.min, closes), []
    while moment <= end:
        label = moment.strftime("%H:%M")
        choices.append((label, label))
        moment += timedelta(minutes=step_minutes)
    return choices


def hhmm(value) -> str:
    return value.strftime("%H:%M") if isinstance(value, time) else str(value or "")


class BookingForm(forms.Form):
    """Who it is for comes from the acting patient; the service from the address. Documents already in the chart
    are ticked as ``documents`` (read from the POST by the view: ids are checked by the booking service)."""

    group = forms.ChoiceField(label=_("Why is home nursing needed?"), required=False, widget=forms.RadioSelect)
    address = forms.CharField(
        label=_("Address where the nurse should come"), max_length=200, required=False,
        help_text=_("Street and number or residential estate, e.g. 太原市迎泽区双塔寺社区3号楼."),
        widget=forms.TextInput(attrs={"autocomplete": "street-address", "list": "hc-places",
                                      "data-hc-address": ""}))
    latitude = forms.CharField(required=False, widget=forms.HiddenInput(attrs={"data-hc-lat": ""}))
    longitude = forms.CharField(required=False, widget=forms.HiddenInput(attrs={"data-hc-lng": ""}))
    address_detail = forms.CharField(label=_("Building, floor, door"), max_length=100, required=False,
                                     help_text=_("And anything that helps the nurse find you: a lift, a gate code."))
    contact_name = forms.CharField(label=_("Who should the nurse contact?"), max_length=64, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "name"}))
    contact_phone = forms.CharField(
        label=_("Contact's mobile number"), max_length=20, required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}))
    preferred_date = forms.CharField(label=_("Preferred day"), max_length=10, required=False,
                                     widget=forms.DateInput(attrs={"type": "date"}))
    window_start = forms.CharField(label=pgettext_lazy("time window", "From"), max_length=5, required=False,
                                   widget=forms.Select())
    window_end = forms.CharField(label=pgettext_lazy("time window", "Until"), max_length=5, required=False,
                                 widget=forms.Select())
    condition_note = forms.CharField(
        label=_("What should the nurse know?"), max_length=2000, required=False,
        help_text=_("For example: where the wound is and how it looks, the catheter size, allergies, a dog at home."),
        widget=forms.Textarea(attrs={"rows": 3}))
    evidence_file = forms.FileField(
        label=_("A document (PDF or photo)"), required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/*"}))
    evidence_kind = forms.CharField(label=_("What is it?"), max_length=32, required=False,
                                    widget=forms.Select(choices=EVIDENCE_KINDS))
    photo_file = forms.FileField(
        label=_("A photo of the wound or the site"), required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}))
    consent = forms.BooleanField(
        label=_("I have read the informed consent above and agree to home nursing on these terms (for the patient, "
                "with their authorisation, if I book for a relative)."), required=False)

    def __init__(self, *args, service: NursingService, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [(g, EligibleGroup(g).label) for g in service.eligible_groups
                                        if g in EligibleGroup.values]
        times = time_choices()
        self.fields["window_start"].widget.choices = times
        self.fields["window_end"].widget.choices = times

    def group_options(self) -> list[dict]:
        """The radio buttons with the hint of each group (drawn by the template, not by the widget)."""
        chosen = self["group"].value() or ""
        numbers = {"age": settings.HOMECARE_ELDERLY_AGE, "days": settings.HOMECARE_DISCHARGE_DAYS}
        return [{"value": value, "label": label, "hint": str(GROUP_HINTS.get(value, "")) % numbers,
                 "checked": value == chosen} for value, label in self.fields["group"].choices]

    def values(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) or "" for name in (
            "group", "address", "latitude", "longitude", "address_detail", "contact_name", "contact_phone",
            "preferred_date", "window_start", "window_end", "condition_note")}


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Why do you cancel? (optional)"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}))


class DisputeForm(forms.Form):
    note = forms.CharField(label=_("What was not right?"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}))


class RatingForm(forms.Form):
    # Drawn as five star buttons by the template; the number is checked by ``billing.rate``.
    stars = forms.CharField(label=_("Your rating"), required=False, max_length=2)
    comment = forms.CharField(label=_("Anything you would like to tell us? (optional)"), required=False,
                              max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
