"""Forms that only parse what was typed; what it means (valid ID, real mobile, consent) is checked by services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Relationship


def _text(label, *, autocomplete: str = "", inputmode: str = "", max_length: int = 64, required=True, **attrs):
    widget_attrs = {k: v for k, v in {"autocomplete": autocomplete, "inputmode": inputmode}.items() if v}
    widget_attrs.update(attrs)
    if required:
        widget_attrs["required"] = True
    # Emptiness is refused by the service with its own message; the browser's ``required`` is only a help.
    return forms.CharField(label=label, max_length=max_length, required=False,
                           widget=forms.TextInput(attrs=widget_attrs))


class LoginForm(forms.Form):
    identifier = _text(_("Mobile number or username"), autocomplete="username")
    password = forms.CharField(
        label=_("Password"), required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "required": True}),
    )


class CodeForm(forms.Form):
    code = _text(_("6-digit code"), autocomplete="one-time-code", inputmode="numeric", max_length=8,
                 pattern="[0-9 ]{6,8}")


class RegisterForm(forms.Form):
    real_name = _text(_("Real name"), autocomplete="name")
    resident_id = _text(_("Resident ID number"), max_length=18, autocomplete="off",
                        help_text=_("18 characters, as on your resident identity card."))
    phone = _text(_("Mobile number"), autocomplete="tel", inputmode="tel", max_length=20)
    password = forms.CharField(
        label=_("Password"), required=False,
        help_text=_("At least 8 characters; not only digits, not like your name."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "required": True}),
    )
    health_data_consent = forms.BooleanField(
        label=_("I have read the text above and separately consent to the processing of my health data."),
        required=False,
    )


RELATIONSHIP_CHOICES = [("", _("Please choose")), *Relationship.choices]


class InviteProxyForm(forms.Form):
    proxy_phone = _text(_("Your relative's mobile number"), autocomplete="off", inputmode="tel", max_length=20)
    proxy_real_name = _text(_("Your relative's real name"), autocomplete="off")
    relationship = forms.CharField(label=_("They are my"), required=False,
                                   widget=forms.Select(choices=RELATIONSHIP_CHOICES))
    consent = forms.BooleanField(
        label=_("I authorise this relative to see my record and act for me on this platform."), required=False
    )


class RequestProxyForm(forms.Form):
    patient_phone = _text(_("The patient's mobile number"), autocomplete="off", inputmode="tel", max_length=20)
    patient_real_name = _text(_("The patient's real name"), autocomplete="off")
    relationship = forms.CharField(label=_("I am the patient's"), required=False,
                                   widget=forms.Select(choices=RELATIONSHIP_CHOICES))


class ApproveProxyForm(forms.Form):
    consent = forms.BooleanField(
        label=_("I authorise this relative to see my record and act for me."), required=False
    )


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    elder_mode = forms.BooleanField(
        label=_("Elder mode: large type, strong contrast and big buttons"), required=False
    )
