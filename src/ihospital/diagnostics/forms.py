"""Forms of the staff's medical-test pages: ordering (with the contrast safety questions), the imaging report and
the result imports. The rules are the services'; these only read what was typed."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

YES_NO = [("", "—"), ("no", _("no")), ("yes", _("yes"))]


class OrderForm(forms.Form):
    test_code = forms.CharField(label=_("Test"), max_length=32)
    reason = forms.CharField(label=_("Clinical reason"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    contrast_allergy = forms.ChoiceField(label=_("Known contrast allergy?"), choices=YES_NO, required=False)
    egfr = forms.FloatField(label=_("eGFR (mL/min/1.73 m²)"), required=False)
    creatinine_umol_l = forms.FloatField(label=_("Serum creatinine (µmol/L)"), required=False)
    metformin = forms.ChoiceField(label=_("Takes metformin?"), choices=YES_NO, required=False)
    pregnant = forms.ChoiceField(label=_("Pregnant?"), choices=YES_NO, required=False)

    SAFETY_FIELDS = ("contrast_allergy", "egfr", "creatinine_umol_l", "metformin", "pregnant")

    def safety(self) -> dict:
        """The safety answers as ``ordering.order`` reads them (unanswered questions stay unanswered)."""
        data = self.cleaned_data
        answers = {}
        for key in ("contrast_allergy", "metformin", "pregnant"):
            answers[key] = {"yes": True, "no": False}.get(data.get(key) or "")
        for key in ("egfr", "creatinine_umol_l"):
            answers[key] = data.get(key)
        return answers


class ReportForm(forms.Form):
    findings = forms.CharField(label=_("Findings"), widget=forms.Textarea(attrs={"rows": 8}), required=False)
    impression = forms.CharField(label=_("Impression"), widget=forms.Textarea(attrs={"rows": 4}), required=False)


class Hl7Form(forms.Form):
    message = forms.CharField(label=_("HL7 message (ORU^R01)"), widget=forms.Textarea(attrs={"rows": 10}),
                              required=False, strip=False)
    file = forms.FileField(label=_("or an HL7 file"), required=False)

    def clean(self):
        data = super().clean()
        if not (data.get("message") or "").strip() and not data.get("file"):
            raise forms.ValidationError(_("Paste a message or choose a file."))
        return data


class CsvForm(forms.Form):
    file = forms.FileField(label=_("Results file (CSV)"))
