"""Forms of the availability page: they parse times and dates; what is allowed is decided by ``services``."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import MAX_CAPACITY, MAX_SLOT_MINUTES, MIN_CAPACITY, MIN_SLOT_MINUTES, VisitMode, Weekday


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%H:%M")


class RuleForm(forms.Form):
    department_id = forms.TypedChoiceField(label=_("Department"), coerce=int, choices=())
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Weekdays"), coerce=int, choices=Weekday.choices, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one weekday.")},
    )
    start_time = forms.TimeField(label=_("From"), widget=TimeInput)
    end_time = forms.TimeField(label=_("Until"), widget=TimeInput)
    slot_minutes = forms.IntegerField(
        label=_("Minutes per slot"), initial=15,
        widget=forms.NumberInput(attrs={"min": MIN_SLOT_MINUTES, "max": MAX_SLOT_MINUTES, "step": 5,
                                        "inputmode": "numeric"}),
    )
    capacity = forms.IntegerField(
        label=_("Patients per slot"), initial=1,
        widget=forms.NumberInput(attrs={"min": MIN_CAPACITY, "max": MAX_CAPACITY, "inputmode": "numeric"}),
    )
    mode = forms.ChoiceField(label=_("Kind of visit"), choices=VisitMode.choices, initial=VisitMode.TEXT,
                             widget=forms.RadioSelect)
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput)
    valid_until = forms.DateField(label=_("Valid until"), required=False, widget=DateInput,
                                  help_text=_("Leave empty to keep offering these times."))

    def __init__(self, *args, departments=(), **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("valid_from", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["department_id"].choices = [(d.pk, d.name) for d in departments]
        if len(self.fields["department_id"].choices) == 1:
            self.fields["department_id"].initial = self.fields["department_id"].choices[0][0]


class ClosureForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=DateInput)
    start_time = forms.TimeField(label=_("From"), required=False, widget=TimeInput)
    end_time = forms.TimeField(label=_("Until"), required=False, widget=TimeInput,
                               help_text=_("Leave both times empty to close the whole day."))
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False,
                             widget=forms.TextInput(attrs={"required": True}))
    whole_hospital = forms.BooleanField(label=_("Close the whole hospital (a public holiday)"), required=False)

    def __init__(self, *args, allow_hospital: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not allow_hospital:
            del self.fields["whole_hospital"]
