import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

ENCODING_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
CALLBACK_TOKEN = re.compile(r"^[A-Za-z0-9]{1,32}$")


def _secret_field(label, help_text):
    # Never rendered back: render_value=False leaves the box empty, and an empty box keeps the stored value.
    return forms.CharField(
        label=label, required=False, max_length=128, help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class CredentialsForm(forms.Form):
    corp_id = forms.CharField(label=_("Corp ID"), max_length=64, help_text=_("My company → Company info → Corp ID"))
    agent_id = forms.CharField(label=_("Agent ID"), max_length=32, required=False)
    secret = _secret_field(_("Secret"), _("Leave empty to keep the stored one."))
    callback_token = _secret_field(_("Callback token"), _("Leave empty to keep the stored one."))
    encoding_aes_key = _secret_field(_("EncodingAESKey"), _("43 letters and digits. Leave empty to keep the stored one."))

    def clean_corp_id(self):
        return self.cleaned_data["corp_id"].strip()

    def clean_callback_token(self):
        token = self.cleaned_data["callback_token"].strip()
        if token and not CALLBACK_TOKEN.match(token):
            raise ValidationError(_("The token is up to 32 letters and digits."))
        return token

    def clean_encoding_aes_key(self):
        key = self.cleaned_data["encoding_aes_key"].strip()
        if key and not ENCODING_AES_KEY.match(key):
            raise ValidationError(_("The EncodingAESKey is 43 letters and digits."))
        return key
