"""Chart forms: they parse dates and files; what is acceptable is decided by ``records.services``."""

from __future__ import annotations

from django import forms
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from .models import AllergyCategory, DocumentKind, Severity, Verification
from .storage import ALLOWED_TYPES


class DateInput(forms.DateInput):
    input_type = "date"


def _select(label, choices, initial=None):
    # A plain text field with a select widget: an unknown value reaches the service, which explains it.
    return forms.CharField(label=label, required=False, initial=initial, widget=forms.Select(choices=choices))


class DocumentForm(forms.Form):
    kind = _select(_("Kind of document"), DocumentKind.choices, DocumentKind.OUTPATIENT_RECORD)
    title = forms.CharField(label=_("Title"), max_length=128, required=False,
                            help_text=_("For example: cardiology clinic, 3 March 2025."))
    file = forms.FileField(
        label=_("File"),
        help_text=_("PDF, JPEG, PNG, WebP, HEIC or DICOM."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join([*ALLOWED_TYPES, ".heic", ".dcm"])}),
        error_messages={"required": _("Please choose a file to upload.")},
    )


class AllergyForm(forms.Form):
    substance = forms.CharField(label=_("Allergic to"), max_length=128, required=False,
                                widget=forms.TextInput(attrs={"required": True}))
    category = _select(_("Kind"), AllergyCategory.choices, AllergyCategory.DRUG)
    reaction = forms.CharField(label=_("Reaction"), max_length=255, required=False)
    severity = _select(_("Severity"), Severity.choices, Severity.MODERATE)


class MedicationForm(forms.Form):
    medication = forms.CharField(label=_("Medicine"), max_length=128, required=False,
                                 widget=forms.TextInput(attrs={"required": True}))
    dose = forms.CharField(label=_("Dose"), max_length=64, required=False)
    frequency = forms.CharField(label=_("How often"), max_length=64, required=False)
    route = forms.CharField(label=_("How it is taken"), max_length=32, required=False)
    started_on = forms.DateField(label=_("Taking since"), required=False, widget=DateInput)


class ConditionForm(forms.Form):
    """A doctor's diagnosis; the code is looked up (and refused if unknown) by the service."""

    code = forms.CharField(label=_("ICD-10 code"), max_length=8, required=False,
                           widget=forms.TextInput(attrs={"required": True, "autocomplete": "off"}))
    # The service checks that the encounter is this patient's; the select only offers them.
    encounter_id = forms.IntegerField(label=_("Encounter"), required=False, widget=forms.Select)
    verification = _select(_("Verification"), [c for c in Verification.choices
                                                 if c[0] != Verification.PATIENT_REPORTED],
                           Verification.CONFIRMED)
    chronic = forms.BooleanField(label=_("Chronic disease"), required=False)
    onset_date = forms.DateField(label=_("Onset date"), required=False, widget=DateInput)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def offer_encounters(self, encounters) -> ConditionForm:
        self.fields["encounter_id"].widget.choices = [("", _("not tied to an encounter"))] + [
            (e.pk, f"{localtime(e.started_at):%Y-%m-%d} · {e.get_mode_display()} · {e.department}") for e in encounters
        ]
        return self

