"""Forms of the prescription pages. They only parse what was typed; what is allowed is decided by ``rules`` and
``services`` (a refusal comes back as a ``DomainError`` and is shown beside the field it names)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Adherence, Frequency, RejectionReason, Route, RxKind

YES_NO = [("yes", _("Yes")), ("no", _("No"))]

CODE_WIDGET = forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                     "pattern": "[0-9 ]{6,8}", "maxlength": 8, "class": "code-input"})


def code_field() -> forms.CharField:
    return forms.CharField(label=_("Your 6-digit code"), required=False, max_length=8, widget=CODE_WIDGET,
                           help_text=_("From your authenticator app: you sign personally."))


class SignForm(forms.Form):
    """The doctor's personal act: the second factor, typed now (or moments ago, see ``services``)."""

    code = code_field()

    @classmethod
    def with_error(cls, message) -> SignForm:
        form = cls(data={"code": ""})
        form.is_valid()
        form.add_error("code", str(message))
        return form


class RefillForm(forms.Form):
    """The refill questionnaire (``rules.clean_answers`` decides what is a complete answer)."""

    items = forms.MultipleChoiceField(label=_("Medicines to renew"), required=False,
                                      widget=forms.CheckboxSelectMultiple)
    new_symptoms = forms.ChoiceField(label=_("Any new symptoms since the last prescription?"), choices=YES_NO,
                                     required=False, widget=forms.RadioSelect)
    new_symptoms_detail = forms.CharField(label=_("What is new?"), required=False, max_length=1000,
                                          widget=forms.Textarea(attrs={"rows": 2}))
    side_effects = forms.ChoiceField(label=_("Any side effects from these medicines?"), choices=YES_NO,
                                     required=False, widget=forms.RadioSelect)
    side_effects_detail = forms.CharField(label=_("Which side effects?"), required=False, max_length=1000,
                                          widget=forms.Textarea(attrs={"rows": 2}))
    adherence = forms.ChoiceField(label=_("How have you been taking them?"), choices=Adherence.choices,
                                  required=False, widget=forms.RadioSelect)
    systolic = forms.IntegerField(label=_("Systolic (upper) mmHg"), required=False,
                                  widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 60, "max": 260}))
    diastolic = forms.IntegerField(label=_("Diastolic (lower) mmHg"), required=False,
                                   widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 30, "max": 160}))
    fasting_glucose = forms.DecimalField(
        label=_("Fasting blood glucose, mmol/L"), required=False, max_digits=4, decimal_places=1,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.1", "min": 1, "max": 35}),
    )
    comment = forms.CharField(label=_("Anything else for the doctor?"), required=False, max_length=1000,
                              widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, items=(), blood_pressure: bool = False, glucose: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = [(str(item.pk), label) for item, label in items]
        if not self.is_bound:
            self.initial["items"] = [str(item.pk) for item, _label in items]
        if not blood_pressure:
            del self.fields["systolic"], self.fields["diastolic"]
        if not glucose:
            del self.fields["fasting_glucose"]

    def answers(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("items", None)
        if data.get("fasting_glucose") is not None:
            data["fasting_glucose"] = str(data["fasting_glucose"])
        return {key: ("" if value is None else value) for key, value in data.items()}

    def item_ids(self) -> list[int]:
        return [int(i) for i in self.cleaned_data.get("items") or []]


class StartForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of prescription"), choices=RxKind.choices, initial=RxKind.ACUTE)
    refills_allowed = forms.IntegerField(label=_("Refills allowed"), required=False, min_value=0, initial=0,
                                         widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
                                         help_text=_("Only for a chronic or long-term prescription."))


class DetailsForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of prescription"), choices=RxKind.choices)
    refills_allowed = forms.IntegerField(label=_("Refills allowed"), required=False, min_value=0,
                                         widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    notes = forms.CharField(label=_("Advice to the patient"), required=False, max_length=2000,
                            widget=forms.Textarea(attrs={"rows": 2}))
    guardian_name = forms.CharField(label=_("Guardian present"), required=False, max_length=64)
    guardian_relationship = forms.CharField(label=_("Guardian's relationship to the child"), required=False,
                                            max_length=32)
    guardian_phone = forms.CharField(label=_("Guardian's phone"), required=False, max_length=20)

    def __init__(self, *args, child: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not child:
            for name in ("guardian_name", "guardian_relationship", "guardian_phone"):
                del self.fields[name]

    @classmethod
    def of(cls, rx, *, child: bool) -> DetailsForm:
        return cls(child=child, initial={
            "kind": rx.kind, "refills_allowed": rx.refills_allowed, "notes": rx.notes,
            "guardian_name": rx.guardian_name, "guardian_relationship": rx.guardian_relationship,
            "guardian_phone": rx.guardian_phone,
        })

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["refills_allowed"] = data.get("refills_allowed") or 0
        return data


class ItemForm(forms.Form):
    drug = forms.IntegerField(widget=forms.HiddenInput,
                              error_messages={"required": _("Search for a medicine and choose it first.")})
    dose = forms.CharField(label=_("Dose each time"), required=False, max_length=16,
                           widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    frequency = forms.ChoiceField(label=_("How often"), choices=Frequency.choices, initial=Frequency.QD)
    route = forms.ChoiceField(label=_("Route"), choices=Route.choices)
    duration_days = forms.CharField(label=_("Days of treatment"), required=False, max_length=4,
                                    widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
    quantity = forms.CharField(label=_("Packages"), required=False, max_length=4,
                               widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
                               help_text=_("Leave empty: the packages the days need are counted for you."))
    instructions = forms.CharField(label=_("Instructions for the patient"), required=False, max_length=255,
                                   widget=forms.TextInput(attrs={"placeholder": _("e.g. after breakfast")}))

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["drug_id"] = data.pop("drug")
        data["quantity"] = data.get("quantity") or None
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reasons = forms.MultipleChoiceField(label=_("What is wrong"), choices=RejectionReason.choices, required=False,
                                        widget=forms.CheckboxSelectMultiple)
    comment = forms.CharField(label=_("What the doctor should change"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}))


def overrides_from(data) -> dict[str, str]:
    """The doctor's reasons typed beside each check finding (fields ``override-<key>``)."""
    return {key.removeprefix("override-"): value.strip()[:500] for key, value in data.items()
            if key.startswith("override-") and value.strip()}
