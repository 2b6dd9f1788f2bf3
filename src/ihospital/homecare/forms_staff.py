"""Forms of the staff's home-nursing pages. They only parse what was typed; the services decide (a field left
empty reaches the service, which refuses it with the same code and message the API would send)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import DeclineReason, NursingService, Risk


def _bilingual(item: dict) -> str:
    from django.utils.translation import get_language

    return item["zh"] if (get_language() or "").startswith("zh") else (item.get("en") or item["zh"])


class AcceptForm(forms.Form):
    risk = forms.ChoiceField(label=_("Risk"), choices=Risk.choices, widget=forms.RadioSelect, required=False)
    home_suitable = forms.BooleanField(label=_("The home is suitable for this procedure"), required=False)
    eligibility_confirmed = forms.BooleanField(
        label=_("I checked the patient's eligibility and the documents"), required=False)
    two_nurses = forms.BooleanField(label=_("The first visit needs two nurses"), required=False,
                                    help_text=_("Required for a high risk."))
    notes = forms.CharField(label=_("Notes for the visiting nurse"), required=False, max_length=4000,
                            widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, service: NursingService, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.consumable_fields = []
        for item in service.consumables:
            name = f"qty_{item['code']}"
            self.fields[name] = forms.IntegerField(
                label=_bilingual(item), required=False, min_value=0, max_value=20, initial=item["qty"],
                help_text=_("¥%(price)s each") % {"price": f"{item.get('price_fen', 0) / 100:.2f}"},
                widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}))
            self.consumable_fields.append(name)
        if service.needs_doctor_order:
            self.fields["notes"].label = _("The doctor's order you checked (prescriber and date), and notes")
            self.fields["notes"].help_text = _("This service is only given on a doctor's order.")

    def consumables(self) -> list[dict]:
        return [{"code": name.removeprefix("qty_"), "qty": self.cleaned_data.get(name) or 0}
                for name in self.consumable_fields]


class DeclineForm(forms.Form):
    decline_reason = forms.ChoiceField(label=_("Why it is declined"), required=False,
                                       choices=[("", "—")] + list(DeclineReason.choices))
    note = forms.CharField(label=_("Explanation for the patient"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("The patient sees the reason and this explanation."))


class ReleaseForm(forms.Form):
    reason = forms.CharField(label=_("Why you hand it back"), required=False, max_length=500)


class ShiftForm(forms.Form):
    nurse = forms.TypedChoiceField(label=_("Nurse"), coerce=int)
    starts = forms.CharField(label=_("From"), widget=forms.TimeInput(attrs={"type": "time"}), initial="08:00")
    ends = forms.CharField(label=_("Until"), widget=forms.TimeInput(attrs={"type": "time"}), initial="17:00")

    def __init__(self, *args, nurses, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["nurse"].choices = [("", "—")] + [(n.pk, n.real_name) for n in nurses]


class ReviewForm(forms.Form):
    note = forms.CharField(label=_("What you found"), max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class CorrectionDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    note = forms.CharField(label=_("Note (required to reject)"), max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class MrnSearchForm(forms.Form):
    mrn = forms.CharField(label=_("Medical record number (MRN)"), max_length=32)


class BlockForm(forms.Form):
    patient_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("What happened"), max_length=4000, required=False,
                             widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Date, what the patient or family did, who was endangered."))


class LiftForm(forms.Form):
    reason = forms.CharField(label=_("Why the block is lifted"), max_length=2000, required=False)
