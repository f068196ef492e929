"""The dashboard's filter (a GET form): local days and optional channel, WeChat account and segment; and the
lifecycle settings' form."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Order, Segment, WeChatAccount, Workspace
from reports.models import LifecycleSettings
from reports.orders import workspace_zone
from reports.selectors import ReportFilter

# The longest range one report counts (ten years of local days).
MAX_RANGE_DAYS = 3660


def default_range(*, today: date) -> tuple[date, date]:
    """The last twelve months, this one included: from the first day of the month eleven months ago to today."""
    month = today.month - 11
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1), today


def workspace_today(workspace: Workspace) -> date:
    return timezone.localtime(timezone.now(), workspace_zone(workspace)).date()


class ReportFilterForm(forms.Form):
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    account = forms.ModelChoiceField(label=_("WeChat account"), required=False, queryset=WeChatAccount.objects.none())
    segment = forms.ModelChoiceField(label=_("Segment"), required=False, queryset=Segment.objects.none())

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["channel"].choices = [("", _("All"))] + list(Order.Channel.choices)
        # Only the workspace's own accounts and segments: another seller's id is "not one of the choices".
        self.fields["account"].queryset = WeChatAccount.objects.filter(workspace=workspace)
        self.fields["account"].empty_label = _("All")
        self.fields["segment"].queryset = Segment.objects.filter(workspace=workspace)
        self.fields["segment"].empty_label = _("All contacts")

    def clean(self):
        data = super().clean()
        since, until = default_range(today=workspace_today(self.workspace))
        data["since"] = data.get("since") or since
        data["until"] = data.get("until") or until
        if data["since"] > data["until"]:
            raise forms.ValidationError(_("The first day comes after the last one."))
        if (data["until"] - data["since"]) > timedelta(days=MAX_RANGE_DAYS):
            raise forms.ValidationError(_("Choose at most ten years."))
        return data

    def to_filter(self) -> ReportFilter:
        data = self.cleaned_data
        return ReportFilter(
            since=data["since"], until=data["until"], channel=data.get("channel") or "",
            account_id=data["account"].pk if data.get("account") else None,
            segment_id=data["segment"].pk if data.get("segment") else None,
        )


def report_filter_from_query(*, workspace: Workspace, data) -> tuple[ReportFilterForm, ReportFilter]:
    """The form and its filter; an invalid filter falls back to the default range (the form says why)."""
    form = ReportFilterForm(data, workspace=workspace)
    if form.is_valid():
        return form, form.to_filter()
    since, until = default_range(today=workspace_today(workspace))
    return form, ReportFilter(since=since, until=until)


class LifecycleSettingsForm(forms.ModelForm):
    """The owner's thresholds for the lifecycle stages and the reorder follow-up's text."""

    class Meta:
        model = LifecycleSettings
        fields = ["engaged_days", "vip_orders", "vip_spent", "dormant_days", "lost_days", "reorder_text"]
        widgets = {"reorder_text": forms.Textarea(attrs={"rows": 3})}
