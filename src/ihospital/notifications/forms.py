"""The preferences page's form (helper of ``views.preferences``): which outside channels, which categories, quiet
hours. In-app notifications always arrive; security alarms cannot be switched off. Saving goes through
``preferences.set_preferences`` (the notifications service)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import events


def _mutable_categories() -> list[tuple[str, object]]:
    return [(key, label) for key, label in events.CATEGORIES.items() if key not in events.UNMUTABLE_CATEGORIES]


def channels_available(user) -> dict[str, bool]:
    """Which outside channels the user has at all (a bound WeChat, a mobile number, an e-mail address)."""
    from . import preferences as service

    return dict(service.channels_available(user))


def preference_of(user):
    from . import preferences as service

    return service.preferences_of(user)


def current_preferences(user) -> dict:
    pref = preference_of(user)
    muted = set(pref.muted_categories or [])
    return {
        "wechat": pref.wechat,
        "sms": pref.sms,
        "email": pref.email,
        "categories": [key for key, _label in _mutable_categories() if key not in muted],
        "quiet_start": pref.quiet_start,
        "quiet_end": pref.quiet_end,
    }


def save_preferences(*, user, data: dict):
    from . import preferences as service

    wanted = set(data["categories"])
    muted = [key for key, _label in _mutable_categories() if key not in wanted]
    return service.set_preferences(
        user=user, wechat=data["wechat"], sms=data["sms"], email=data["email"], muted_categories=muted,
        quiet_start=data["quiet_start"], quiet_end=data["quiet_end"],
    )


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%H:%M")


class PreferencesForm(forms.Form):
    wechat = forms.BooleanField(label=_("WeChat messages"), required=False)
    sms = forms.BooleanField(label=_("Text messages (SMS)"), required=False)
    email = forms.BooleanField(label=_("E-mails"), required=False)
    categories = forms.MultipleChoiceField(
        label=_("What to send me outside the app"), required=False, widget=forms.CheckboxSelectMultiple
    )
    quiet_start = forms.TimeField(label=_("Quiet from"), required=False, widget=TimeInput())
    quiet_end = forms.TimeField(label=_("Quiet until"), required=False, widget=TimeInput())

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = _mutable_categories()
        self.available = channels_available(user) if user is not None else {}

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if (start is None) != (end is None) and "quiet_start" not in self.errors and "quiet_end" not in self.errors:
            raise forms.ValidationError(
                _("Give both ends of the quiet hours, or leave both empty to have none."), code="quiet_hours_incomplete"
            )
        if start is not None and start == end:
            raise forms.ValidationError(
                _("The quiet hours must start and end at different times."), code="quiet_hours_empty"
            )
        return data

    def channel_rows(self):
        """(bound field, the user has this channel) for the template."""
        return [(self[name], self.available.get(name, True)) for name in ("wechat", "sms", "email")]
