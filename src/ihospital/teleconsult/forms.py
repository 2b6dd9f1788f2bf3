"""The consultation pages' forms. They only shape input: every rule (who, which status, which codes) is the
services' (``requests``, ``triage``, ``opinions``, ``sessions``, ``accounting``), whose refusals the views attach
to these forms with ``core.pages.apply_domain_error``."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from ihospital.records.models import DocumentKind

from .models import AssignmentRole, AttachmentKind, Mode, Urgency

TEXTAREA = {"rows": 4}


class RequestForm(forms.Form):
    """A new request or an edited draft. ``patient`` only when creating; the choices come from the view."""

    patient = forms.TypedChoiceField(label=_("Patient"), coerce=int, choices=())
    question = forms.CharField(label=_("Question for the experts"), widget=forms.Textarea(attrs=TEXTAREA),
                               max_length=4000)
    summary = forms.CharField(label=_("Case summary"), widget=forms.Textarea(attrs={"rows": 8}), max_length=20000,
                              help_text=_("History, examination, what has been done so far."))
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE)
    mode = forms.ChoiceField(label=_("Kind of consultation"), choices=Mode.choices, initial=Mode.ASYNC)
    department = forms.TypedChoiceField(label=_("Specialty wanted"), coerce=int, required=False, empty_value=None,
                                        choices=())
    named_expert = forms.TypedChoiceField(label=_("A named expert (optional)"), coerce=int, required=False,
                                          empty_value=None, choices=())

    def __init__(self, *args, patients=None, departments=(), experts=(), **kwargs):
        super().__init__(*args, **kwargs)
        if patients is None:
            del self.fields["patient"]
        else:
            self.fields["patient"].choices = [("", _("Choose a patient"))] + [
                (p.pk, f"{p.real_name} · {p.mrn}") for p in patients]
        self.fields["department"].choices = [("", _("Any specialty"))] + [(d.pk, d.name) for d in departments]
        self.fields["named_expert"].choices = [("", _("No particular expert"))] + [
            (u.pk, u.real_name) for u in experts]


class AttachForm(forms.Form):
    kind = forms.ChoiceField(choices=AttachmentKind.choices)
    target_id = forms.IntegerField(min_value=1)
    note = forms.CharField(label=_("Note"), required=False, max_length=200)


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"))
    title = forms.CharField(label=_("Title"), max_length=128)
    doc_kind = forms.ChoiceField(label=_("Kind of document"), choices=DocumentKind.choices,
                                 initial=DocumentKind.OTHER)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class AssignForm(forms.Form):
    expert = forms.TypedChoiceField(label=_("Expert"), coerce=int, choices=())
    role = forms.ChoiceField(label=_("Role"), choices=AssignmentRole.choices, initial=AssignmentRole.LEAD)

    def __init__(self, *args, experts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expert"].choices = [("", _("Choose an expert"))] + [(u.pk, u.label) for u in experts]


ICD_SPLIT = re.compile(r"[\s,;，；、]+")


def split_codes(raw: str) -> list[str]:
    """ICD-10 codes as typed: separated by spaces, commas or semicolons (Chinese punctuation too)."""
    return [code.strip().upper() for code in ICD_SPLIT.split(raw or "") if code.strip()]


class OpinionForm(forms.Form):
    findings = forms.CharField(label=_("Findings"), widget=forms.Textarea(attrs=TEXTAREA), required=False,
                               max_length=20000)
    impression = forms.CharField(label=_("Impression"), widget=forms.Textarea(attrs=TEXTAREA), required=False,
                                 max_length=20000)
    diagnoses = forms.CharField(label=_("Diagnoses (ICD-10 codes)"), required=False, max_length=500,
                                help_text=_("e.g. I10, I25.1 — separated by commas or spaces."))
    recommendations = forms.CharField(label=_("Recommendations"), widget=forms.Textarea(attrs=TEXTAREA),
                                      required=False, max_length=20000)

    def codes(self) -> list[str]:
        return split_codes(self.cleaned_data.get("diagnoses", ""))


class SignForm(OpinionForm):
    otp_code = forms.CharField(label=_("6-digit code from your authenticator"), max_length=8,
                               widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}))


class ScheduleForm(forms.Form):
    starts_at = forms.DateTimeField(label=_("Starts at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                    input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    minutes = forms.IntegerField(label=_("Planned length (minutes)"), min_value=10, max_value=240, initial=30)
    include_patient = forms.BooleanField(label=_("The patient joins"), required=False)


class StatementForm(forms.Form):
    facility = forms.TypedChoiceField(label=_("Partner facility"), coerce=int, choices=())
    month = forms.CharField(label=_("Month"), widget=forms.DateInput(attrs={"type": "month"}), max_length=7)

    def __init__(self, *args, facilities=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].choices = [(f.pk, f.name) for f in facilities]

    def clean_month(self):
        raw = self.cleaned_data["month"]
        match = re.fullmatch(r"(\d{4})-(\d{2})", raw or "")
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise forms.ValidationError(_("Give the month as YYYY-MM."))
        from datetime import date

        return date(int(match.group(1)), int(match.group(2)), 1)
