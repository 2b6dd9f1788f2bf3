"""Forms of the visit room. They only parse; what is acceptable is decided by ``visits.services``."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from ihospital.records.storage import ALLOWED_TYPES


class MessageForm(forms.Form):
    """The composer without JavaScript (with JavaScript, text goes over the socket, files to the API)."""

    body = forms.CharField(label=_("Message"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(
        label=_("Attach a photo or file"), required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ",".join([*ALLOWED_TYPES, ".heic"])}),
    )
    client_id = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason, for the patient"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class BasisReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "accept"), ("reject", "reject")], widget=forms.HiddenInput,
                                 required=False)
    code = forms.CharField(label=_("ICD-10 code of the diagnosis"), required=False, max_length=16,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    note = forms.CharField(label=_("Note (required to reject: the reason)"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


def split_codes(value: str) -> list[str]:
    return [code for code in re.split(r"[\s,;，；、]+", value or "") if code]


class NoteForm(forms.Form):
    subjective = forms.CharField(label=_("Subjective (what the patient reports)"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    objective = forms.CharField(label=_("Objective (measurements, photos, results)"), required=False,
                                widget=forms.Textarea(attrs={"rows": 3}))
    assessment = forms.CharField(label=_("Assessment"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    diagnosis_codes = forms.CharField(
        label=_("ICD-10 codes of the assessment"), required=False,
        help_text=_("Separate codes with spaces or commas, or pick them from the search."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    plan = forms.CharField(label=_("Plan"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    patient_summary = forms.CharField(
        label=_("Summary for the patient"), required=False,
        help_text=_("The patient and their relatives read this after the visit. Plain words, no abbreviations."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    @classmethod
    def from_note(cls, note: dict | None) -> NoteForm:
        if not note:
            return cls()
        initial = {**note, "diagnosis_codes": " ".join(note.get("diagnosis_codes") or [])}
        return cls(initial=initial)

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["diagnosis_codes"] = split_codes(data.get("diagnosis_codes", ""))
        return data


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Your rating"), coerce=int, required=False, empty_value=None,
        choices=[(n, n) for n in range(1, 6)], widget=forms.RadioSelect,
    )
    comment = forms.CharField(label=_("Comment"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}))
