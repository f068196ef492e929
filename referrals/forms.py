"""The referral pages' forms: a campaign with its rule, fraud thresholds and reward tiers; enrolment; the paid
acquisition costs the report compares with."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.forms import DATETIME_FORMATS, DATETIME_INPUT
from crm import selectors as crm_selectors
from crm.models import Member, Segment
from referrals.models import Campaign

TIER_ROWS = 3
IMAGE_ACCEPT = "image/*"
MAIN_FIELDS = ("name", "starts_at", "ends_at", "accounts", "wechat_qr", "landing_text", "background", "poster_text")
RULE_FIELDS = (
    "stay_days", "require_order", "order_min_amount", "order_within_days", "reward_cap", "burst_per_hour",
    "device_scan_limit", "early_delete_days", "notify_progress", "enrol_keyword",
)


class LocalDateTimeField(forms.CharField):
    """A date and time typed in the workspace's time zone (the browser's datetime-local)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})

    def __init__(self, *args, zone: ZoneInfo | None = None, **kwargs):
        self.zone = zone
        super().__init__(*args, max_length=30, **kwargs)

    def clean(self, value):
        value = (super().clean(value) or "").strip()
        for pattern in DATETIME_FORMATS:
            try:
                return timezone.make_aware(datetime.strptime(value, pattern), self.zone)
            except ValueError:
                continue
        raise ValidationError(_("Enter a date and time such as 2026-11-11 20:00."))


class CampaignForm(forms.ModelForm):
    starts_at = LocalDateTimeField(label=_("Starts at"))
    ends_at = LocalDateTimeField(label=_("Ends at"))
    accounts = forms.ModelMultipleChoiceField(label=_("WeChat accounts new friends add"), queryset=None,
                                              widget=forms.CheckboxSelectMultiple)
    background = forms.FileField(
        label=_("Poster background"), required=False, widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
        help_text=_("A JPEG, PNG or WebP of at most 10 MB, ideally 750×1334 pixels. Without one the poster is red."),
    )
    wechat_qr = forms.FileField(
        label=_("Your WeChat QR code"), required=False, widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
        help_text=_("The QR code new friends scan to add you (WeChat: Me › QR code › save). The landing page "
                    "shows it."),
    )

    class Meta:
        model = Campaign
        fields = ["name", "landing_text", "poster_text", *RULE_FIELDS]
        help_texts = {
            "stay_days": _("An invite qualifies when the new friend is still a friend this many days later."),
            "require_order": _("Also ask the new friend for a first order."),
            "reward_cap": _("0: no cap. Tiers past the cap are not granted."),
            "burst_per_hour": _("More invites than this within an hour are held for your approval. 0: off."),
            "device_scan_limit": _("Scans from a device past this many different codes are not counted. 0: off."),
            "early_delete_days": _("Invites of friends who delete you this soon after qualifying are flagged."),
            "notify_progress": _("Each time a participant's count grows, they get a message (“2 of 3”)."),
            "enrol_keyword": _("A customer who replies this word (e.g. 海报) is enrolled and sent their poster. "
                               "Empty: only the customers you enrol."),
        }

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = ZoneInfo(member.workspace.time_zone)
        self.fields["starts_at"].zone = self.fields["ends_at"].zone = self.zone
        self.fields["accounts"].queryset = crm_selectors.accounts_visible_to(member=member)
        for number in range(1, TIER_ROWS + 1):
            required = number == 1
            self.fields[f"tier_{number}_invites"] = forms.IntegerField(
                label=_("Qualified invites"), min_value=1, max_value=1000, required=required)
            self.fields[f"tier_{number}_name"] = forms.CharField(label=_("Reward"), max_length=60, required=required)
            self.fields[f"tier_{number}_cost"] = forms.DecimalField(
                label=_("Its cost to you (¥)"), min_value=Decimal("0"), max_digits=10, decimal_places=2,
                required=False)
        if self.instance.pk and not self.is_bound:
            self._initial_from(self.instance)

    def _initial_from(self, campaign: Campaign) -> None:
        self.initial["starts_at"] = timezone.localtime(campaign.starts_at, self.zone).strftime(DATETIME_INPUT)
        self.initial["ends_at"] = timezone.localtime(campaign.ends_at, self.zone).strftime(DATETIME_INPUT)
        self.initial["accounts"] = list(campaign.accounts.values_list("pk", flat=True))
        for number, tier in enumerate(campaign.tiers.all(), start=1):
            if number > TIER_ROWS:
                break
            self.initial.update({f"tier_{number}_invites": tier.invites, f"tier_{number}_name": tier.name,
                                 f"tier_{number}_cost": tier.cost})

    def tier_rows(self):
        return [(self[f"tier_{n}_invites"], self[f"tier_{n}_name"], self[f"tier_{n}_cost"])
                for n in range(1, TIER_ROWS + 1)]

    def main_fields(self):
        return [self[name] for name in MAIN_FIELDS]

    def rule_fields(self):
        return [self[name] for name in RULE_FIELDS]

    def clean_enrol_keyword(self):
        return " ".join(self.cleaned_data["enrol_keyword"].split())

    def clean(self):
        data = super().clean()
        tiers = []
        for number in range(1, TIER_ROWS + 1):
            invites, name = data.get(f"tier_{number}_invites"), data.get(f"tier_{number}_name")
            if invites and name:
                tiers.append((invites, name, data.get(f"tier_{number}_cost") or Decimal("0")))
            elif invites or name:
                self.add_error(f"tier_{number}_name", _("A tier needs both a number of invites and a reward."))
        data["tiers"] = tiers
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        fields = {name: data[name] for name in ["name", "landing_text", "poster_text", *RULE_FIELDS]}
        return {"accounts": data["accounts"], "tiers": data["tiers"], "background": data.get("background"),
                "friend_qr": data.get("wechat_qr"), "starts_at": data["starts_at"], "ends_at": data["ends_at"],
                **fields}


class EnrolContactForm(forms.Form):
    contact = forms.IntegerField(widget=forms.HiddenInput)


class EnrolSegmentForm(forms.Form):
    segment = forms.ModelChoiceField(label=_("Segment"), queryset=None)

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.filter(workspace_id=member.workspace_id)


class AcquisitionCostForm(forms.Form):
    channel = forms.CharField(label=_("Channel"), max_length=40,
                              widget=forms.TextInput(attrs={"placeholder": _("e.g. Douyin ads")}))
    cost_per_customer = forms.DecimalField(label=_("Cost per new customer (¥)"), min_value=Decimal("0"),
                                           max_digits=10, decimal_places=2)
