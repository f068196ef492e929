"""The channel QR code forms: a new code, its welcome message, and the workspace's default welcome message."""

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.images import broadcast_image_from_upload
from crm import selectors as crm_selectors
from crm.models import Contact, Member, WeChatAccount
from wecom import contact_ways

WELCOME_MAX_LENGTH = 2000
# The places a printed or shown QR code stands for; referral codes get theirs from the participant.
SOURCES = [Contact.Source.CHANNEL_QR, Contact.Source.SHOP, Contact.Source.ADS, Contact.Source.GROUP]


def _welcome_image_clean(upload):
    """A picture sent to every new customer: made safe like a broadcast's, refused politely over 10 MB."""
    if not upload:
        return None
    prepared = broadcast_image_from_upload(upload)  # ValidationError names the reason (size, format)
    prepared.name = f"welcome.{prepared.name.rsplit('.', 1)[-1]}"
    return prepared


class WelcomeFields(forms.Form):
    welcome_text = forms.CharField(
        label=_("Welcome message"), required=False, max_length=WELCOME_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Sent by WeCom as soon as the customer adds the staff member."),
    )
    welcome_image = forms.FileField(label=_("Welcome picture"), required=False,
                                    help_text=_("JPEG, PNG, GIF or WebP, at most 10 MB."))

    def clean_welcome_image(self):
        return _welcome_image_clean(self.cleaned_data.get("welcome_image"))


class ContactWayForm(WelcomeFields):
    label = forms.CharField(label=_("Name"), max_length=60, help_text=_("Where the code is shown, e.g. 快递包裹卡."))
    accounts = forms.ModelMultipleChoiceField(
        label=_("WeCom accounts"), queryset=WeChatAccount.objects.none(), widget=forms.CheckboxSelectMultiple,
        help_text=_("Several accounts take the new customers in turn."),
    )
    source = forms.ChoiceField(label=_("Source"), choices=[(s.value, s.label) for s in SOURCES])
    # No max_length here: the clean method says WeCom's limit in words, rather than a generic "at most 30".
    state = forms.CharField(label=_("State"), required=False,
                            help_text=_("Optional, at most 30 characters; made up when empty."))

    field_order = ["label", "accounts", "source", "state", "welcome_text", "welcome_image"]

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member
        visible = crm_selectors.accounts_visible_to(member=member).values("pk")
        self.fields["accounts"].queryset = contact_ways.wecom_accounts(workspace=member.workspace).filter(
            pk__in=visible)

    def clean_state(self):
        return contact_ways.state_clean(workspace=self.member.workspace, state=self.cleaned_data["state"])


class ContactWayWelcomeForm(WelcomeFields):
    clear_image = forms.BooleanField(label=_("Remove the picture"), required=False)


class DefaultWelcomeForm(forms.Form):
    text = forms.CharField(
        label=_("Default welcome message"), required=False, max_length=WELCOME_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Sent when the customer came through no channel QR code with a welcome message of its own."),
    )
