"""The dashboard's filter (a GET form): local days and optional channel, WeChat account and segment; the lifecycle
settings' form; and the acquisition page's filter (weeks, the effect window, the paid cost to compare with)."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Order, Segment, WeChatAccount, Workspace
from reports import acquisition
from reports.models import LifecycleSettings
from reports.orders import workspace_zone
from reports.selectors import ReportFilter

# The longest range one report counts (ten years of local days).
MAX_RANGE_DAYS = 3660
# The acquisition page reads the contacts added in its range (a year of a million-contact book is a second), and
# counts the effect of each send in it.
MAX_ACQUISITION_DAYS = 371


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


class AcquisitionFilterForm(forms.Form):
    """The acquisition page's filter: local days (widened to whole weeks from Monday), the effect window's days and
    the paid channel whose cost per customer the referral rewards are compared with."""

    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.TypedChoiceField(
        label=_("Days before / after a send"), required=False, coerce=int, empty_value=acquisition.DEFAULT_DAYS,
        choices=[(n, n) for n in acquisition.DAYS_CHOICES], initial=acquisition.DEFAULT_DAYS,
    )
    cost = forms.TypedChoiceField(label=_("Paid cost to compare with"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        # Only the workspace's own costs: another seller's id is "not one of the choices".
        self.fields["cost"].choices = [("", _("The cheapest"))] + [
            (cost.pk, f"{cost.channel} · ¥{cost.cost_per_customer}")
            for cost in acquisition.paid_costs(workspace=workspace)
        ]

    def clean(self):
        data = super().clean()
        since, until = acquisition.default_weeks(today=workspace_today(self.workspace))
        data["since"] = acquisition.week_start(data.get("since") or since)
        data["until"] = data.get("until") or until
        if data["since"] > data["until"]:
            raise forms.ValidationError(_("The first day comes after the last one."))
        if (data["until"] - data["since"]) > timedelta(days=MAX_ACQUISITION_DAYS):
            raise forms.ValidationError(_("Choose at most a year."))
        return data

    def to_filter(self) -> acquisition.AcquisitionFilter:
        data = self.cleaned_data
        return acquisition.AcquisitionFilter(
            since=data["since"], until=data["until"], days=data.get("days") or acquisition.DEFAULT_DAYS,
            cost_id=data.get("cost"),
        )


def acquisition_filter_from_query(*, workspace: Workspace, data) -> tuple[AcquisitionFilterForm,
                                                                           acquisition.AcquisitionFilter]:
    """The form and its filter; an invalid filter falls back to the last twelve weeks (the form says why)."""
    data = data.copy()
    data.setdefault("days", str(acquisition.DEFAULT_DAYS))  # a bound form shows no initial: the select says 7
    form = AcquisitionFilterForm(data, workspace=workspace)
    if form.is_valid():
        return form, form.to_filter()
    since, until = acquisition.default_weeks(today=workspace_today(workspace))
    return form, acquisition.AcquisitionFilter(since=since, until=until)
