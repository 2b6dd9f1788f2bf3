"""Forms of the visit pages: they only parse what was typed; what is allowed is decided by the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ihospital.records.forms import DocumentForm
from ihospital.records.models import DocumentKind

from .models import BASIS_DOCUMENT_KINDS


class BasisDocumentForm(DocumentForm):
    """An uploaded record to serve as the diagnosis: only the kinds that can stand for one are offered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].widget.choices = [(k, label) for k, label in DocumentKind.choices
                                              if k in BASIS_DOCUMENT_KINDS]
        self.fields["kind"].label = _("Kind of record")
        self.fields["title"].help_text = _("For example: cardiology clinic record, 3 March 2025.")

    def clean_kind(self):
        kind = self.cleaned_data.get("kind")
        if kind not in BASIS_DOCUMENT_KINDS:
            # Stored anyway it could not serve as the basis: refuse before the file is kept in the chart.
            raise forms.ValidationError(
                _("Please choose an outpatient or inpatient record, a discharge summary or a diagnosis certificate.")
            )
        return kind


class RequestForm(forms.Form):
    """The last step: why the patient needs the visit (the earlier choices ride in the page's address), and the
    informed consent to online care the first time."""

    complaint = forms.CharField(
        label=_("What would you like to discuss with the doctor?"), required=False, max_length=4000,
        help_text=_("For example: how your blood pressure has been, side effects, the medicines you need."),
        widget=forms.Textarea(attrs={"rows": 4, "required": True}),
    )
    online_care_consent = forms.BooleanField(
        label=_("I understand that online visits are follow-ups of a diagnosed illness, that the doctor may ask me "
                "to come in person, and that in an emergency I call 120. I agree to be cared for online."),
        required=True,
        error_messages={"required": _("Please agree to online care to go on.")},
    )

    def __init__(self, *args, needs_consent: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not needs_consent:
            del self.fields["online_care_consent"]


class StartDayForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code"), max_length=8, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]{6,8}", "required": True}),
    )
