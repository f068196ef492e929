"""The broadcast composer and the messaging settings."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Broadcast, BroadcastImage, MessagingSettings
from campaigns.drafts import MAX_IMAGES, MAX_TEXT_LENGTH
from crm import selectors
from crm.forms import grouped_tag_choices
from crm.models import CustomerGroup, Member, Segment, Tag
from crm.widgets import FastSelectMultiple

DATETIME_INPUT = "%Y-%m-%dT%H:%M"
DATETIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M")


IMAGE_ACCEPT = "image/*"  # HEIC included, so that it gets its own explanation rather than a greyed-out file


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files from one input; each is checked by campaigns.images, not here."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleImageInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        return [super(MultipleImageField, self).clean(file, initial) for file in files]


class WebLinkField(forms.URLField):
    """A web address: "example.com/x" becomes https://example.com/x; javascript:, data: and ftp: are refused."""

    default_validators = [URLValidator(schemes=["http", "https"])]
    default_error_messages = {"invalid": _("Enter a web address starting with http:// or https://.")}

    def __init__(self, **kwargs):
        super().__init__(assume_scheme="https", **kwargs)


def _ids_field(label, help_text=""):
    return forms.TypedMultipleChoiceField(
        label=label, coerce=int, required=False, widget=FastSelectMultiple, help_text=help_text
    )


class MessageContentForm(forms.Form):
    """The pictures or link card a message carries: what a broadcast and a moments post share."""

    images = MultipleImageField(
        label=_("Images"), required=False, widget=MultipleImageInput(attrs={"accept": IMAGE_ACCEPT}),
        help_text=_("Up to 9 JPEG, PNG, WebP or GIF images of at most 10 MB each. Location and camera data are "
                    "removed, and large photos are scaled down to 1600 pixels on the long edge."),
    )
    remove_images = forms.TypedMultipleChoiceField(
        label=_("Remove"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    link_title = forms.CharField(label=_("Link title"), max_length=64, required=False)
    link_description = forms.CharField(label=_("Link description"), max_length=120, required=False)
    link_url = WebLinkField(label=_("Link address"), max_length=1000, required=False,
                            help_text=_("A web page starting with http:// or https://."))


class BroadcastForm(MessageContentForm):
    WHEN_CHOICES = [("now", _("As soon as I press Send")), ("later", _("At a time I choose"))]

    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("For your team only, such as “Double 11 pre-sale”; customers never see it.")
    )
    text = forms.CharField(
        label=_("Text"), max_length=MAX_TEXT_LENGTH, required=False,
        widget=forms.Textarea(attrs={"rows": 7, "maxlength": MAX_TEXT_LENGTH}),
        help_text=_(
            "Up to 2,000 characters. Placeholders are filled in for each customer: {备注名} the remark name "
            "(or the nickname when there is none), {昵称} the nickname (or the remark name). A customer with neither "
            "is called 亲; write your own word after a bar, such as {备注名|朋友}."
        ),
    )
    segments = _ids_field(_("Segments"))
    tags = _ids_field(_("Tags"), _("Customers with any of these tags."))
    groups = _ids_field(_("Customer groups"), _("Members of any of these groups."))
    accounts = _ids_field(_("WeChat accounts"), _("Every customer of these accounts."))
    exclude_segments = _ids_field(_("Except the segments"))
    exclude_tags = _ids_field(_("Except customers tagged"))
    when = forms.ChoiceField(label=_("Send"), choices=WHEN_CHOICES, initial="now", widget=forms.RadioSelect)
    send_at = forms.CharField(
        label=_("Date and time"), required=False, max_length=30,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, member: Member, broadcast: Broadcast | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member
        self.broadcast = broadcast
        self.zone = ZoneInfo(member.workspace.time_zone)
        workspace = member.workspace
        segment_choices = list(Segment.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name"))
        tags = Tag.objects.filter(workspace=workspace).select_related("group").order_by(
            "group__position", "group__name", "name"
        )
        tag_choices = grouped_tag_choices([(tag.group.name if tag.group else "", tag.pk, tag.name) for tag in tags])
        self.fields["exclude_segments"].choices = segment_choices
        self.fields["exclude_tags"].choices = tag_choices
        self.fields["accounts"].choices = list(selectors.accounts_visible_to(member=member).values_list("pk", "name"))
        self.limited = not member.sees_all_accounts
        if self.limited:
            # Their broadcasts go to their own accounts' customers only (drafts.broadcast_audience_clean).
            for name in ("segments", "tags", "groups"):
                del self.fields[name]
            self.fields["accounts"].help_text = _(
                "Your broadcasts go to the customers of your own accounts: leave it empty for all of them."
            )
        else:
            self.fields["segments"].choices = segment_choices
            self.fields["tags"].choices = tag_choices
            self.fields["groups"].choices = list(
                CustomerGroup.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name")
            )
        self.existing_images = list(BroadcastImage.objects.filter(broadcast=broadcast)) if broadcast else []
        self.fields["remove_images"].choices = [(image.pk, image.pk) for image in self.existing_images]
        if broadcast and not self.is_bound:
            self.initial.update(self.initial_for(broadcast))

    def initial_for(self, broadcast: Broadcast) -> dict:
        link = broadcast.link or {}
        initial = {
            "name": broadcast.name, "text": broadcast.text,
            "link_title": link.get("title", ""), "link_description": link.get("description", ""),
            "link_url": link.get("url", ""),
            "when": "later" if broadcast.scheduled_at else "now",
            "send_at": timezone.localtime(broadcast.scheduled_at, self.zone).strftime(DATETIME_INPUT)
            if broadcast.scheduled_at else "",
        }
        initial.update({key: (broadcast.audience or {}).get(key, []) for key in self.audience_keys()})
        return initial

    def audience_keys(self) -> list[str]:
        return [key for key in ("segments", "tags", "groups", "accounts", "exclude_segments", "exclude_tags")
                if key in self.fields]

    def clean_text(self):
        return self.cleaned_data["text"].replace("\r\n", "\n")

    def clean(self):
        data = super().clean()
        if data.get("when") == "later":
            data["scheduled_at"] = self._scheduled_at(data.get("send_at", ""))
        else:
            data["scheduled_at"] = None
        link = {"title": data.get("link_title", ""), "description": data.get("link_description", ""),
                "url": data.get("link_url", "")}
        has_link = any(link.values())
        if has_link:
            if not link["title"]:
                self.add_error("link_title", _("A link card needs a title."))
            if not link["url"] and "link_url" not in self.errors:
                self.add_error("link_url", _("A link card needs a web address."))
        data["link"] = link if has_link else None
        removed = set(data.get("remove_images") or [])
        kept = len([image for image in self.existing_images if image.pk not in removed])
        total = kept + len(data.get("images") or [])
        if total > MAX_IMAGES:
            self.add_error("images", ValidationError(
                _("A broadcast holds at most 9 images; this would make %(n)d."), params={"n": total}
            ))
        if has_link and total:
            raise ValidationError(_("A broadcast carries images or a link card, not both: remove one of them."))
        data["audience"] = {key: data.get(key) or [] for key in self.audience_keys()}
        return data

    def _scheduled_at(self, value: str):
        value = (value or "").strip()
        if not value:
            self.add_error("send_at", _("Choose the date and time to send it."))
            return None
        for pattern in DATETIME_FORMATS:
            try:
                naive = datetime.strptime(value, pattern)
            except ValueError:
                continue
            at = timezone.make_aware(naive, self.zone)
            if at <= timezone.now():
                self.add_error("send_at", _("This time has passed: choose a time in the future."))
                return None
            return at
        self.add_error("send_at", _("Enter a date and time such as 2026-11-11 20:00."))
        return None


class TextPreviewForm(BroadcastForm):
    """The composer's text and audience only, for the live preview; whatever is invalid is left out."""

    def sample_input(self) -> tuple[str, dict]:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        text = (self.data.get("text") or "")[:MAX_TEXT_LENGTH]
        audience = {key: data.get(key) or [] for key in self.audience_keys() if key not in self.errors}
        return text, audience


class MessagingSettingsForm(forms.ModelForm):
    class Meta:
        model = MessagingSettings
        fields = ["quiet_start", "quiet_end", "daily_cap", "monthly_cap", "ad_words"]
        widgets = {
            "ad_words": forms.Textarea(attrs={"rows": 6}),
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        help_texts = {
            "quiet_start": _("No broadcast starts between these two times (in the workspace's time zone); one due "
                             "then waits until the quiet hours end. The same time twice means no quiet hours."),
            "daily_cap": _("A customer who already received this many broadcasts today is skipped."),
            "monthly_cap": _("Leave it empty for as many as the month has days, WeCom's own rule."),
            "ad_words": _("One word or phrase a line. Broadcasts and moments posts that use one get a warning (they "
                          "are still sent): China's advertising law forbids absolute claims such as 最, 第一 or 国家级 "
                          "in marketing copy."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["daily_cap"].widget.attrs.update(min=1, max=100)
        self.fields["daily_cap"].validators.append(_at_least_one)
        self.fields["monthly_cap"].widget.attrs.update(min=1, max=1000)
        self.fields["monthly_cap"].validators.append(_at_least_one)


def _at_least_one(value):
    if value is not None and value < 1:
        raise ValidationError(_("Allow at least one."))


# Follow-up sequences -------------------------------------------------------------------------------------------------

from django.forms import BaseInlineFormSet, inlineformset_factory  # noqa: E402

from campaigns.models import Sequence, SequenceStep  # noqa: E402

MAX_SEQUENCE_STEPS = 20


def _workspace_tags(workspace):
    return Tag.objects.filter(workspace=workspace).select_related("group").order_by("group__position", "group__name", "name")


class SequenceForm(forms.ModelForm):
    """A sequence's name, trigger and exit conditions; every tag and group offered belongs to the workspace."""

    class Meta:
        model = Sequence
        fields = ["name", "trigger", "trigger_tag", "trigger_group", "trigger_days", "exit_on_order", "exit_tag"]
        labels = {
            "name": _("Name"),
            "trigger": _("Starts when"),
            "trigger_tag": _("The tag"),
            "trigger_group": _("The customer group"),
            "trigger_days": _("Days without an order"),
            "exit_on_order": _("Stop when the contact orders"),
            "exit_tag": _("Stop when this tag is added"),
        }
        help_texts = {
            "name": _("For your team only, such as “New customer welcome”; customers never see it."),
            "trigger_tag": _("For “Tag added”: the contacts who get this tag enter the sequence."),
            "trigger_group": _("For “Joined a customer group”: the contacts who join this group enter the sequence."),
            "trigger_days": _("For “No order for N days”: customers whose last order is at least this many days old."),
            "exit_tag": _("Optional: a contact who gets this tag leaves the sequence."),
        }

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["trigger_tag"].queryset = _workspace_tags(workspace)
        self.fields["exit_tag"].queryset = _workspace_tags(workspace)
        self.fields["trigger_group"].queryset = CustomerGroup.objects.filter(workspace=workspace).order_by("name")
        self.fields["trigger_days"].widget.attrs.update(min=1, max=3650)

    def clean(self):
        data = super().clean()
        trigger = data.get("trigger")
        if trigger == Sequence.Trigger.TAG_ADDED and not data.get("trigger_tag") and "trigger_tag" not in self.errors:
            self.add_error("trigger_tag", _("Choose the tag that starts the sequence."))
        if trigger == Sequence.Trigger.GROUP_JOINED and not data.get("trigger_group") and "trigger_group" not in self.errors:
            self.add_error("trigger_group", _("Choose the customer group that starts the sequence."))
        if trigger == Sequence.Trigger.NO_ORDER_FOR and "trigger_days" not in self.errors:
            days = data.get("trigger_days")
            if not days or days < 1:
                self.add_error("trigger_days", _("Enter how many days without an order (at least 1)."))
        # Keep only what the chosen trigger uses.
        if trigger != Sequence.Trigger.TAG_ADDED:
            data["trigger_tag"] = None
        if trigger != Sequence.Trigger.GROUP_JOINED:
            data["trigger_group"] = None
        if trigger != Sequence.Trigger.NO_ORDER_FOR:
            data["trigger_days"] = None
        return data


class SequenceStepForm(forms.ModelForm):
    class Meta:
        model = SequenceStep
        fields = ["wait_days", "wait_hours", "action", "text", "tag", "task_note"]
        labels = {
            "wait_days": _("Wait days"),
            "wait_hours": _("Wait hours"),
            "action": _("Then"),
            "text": _("Message"),
            "tag": _("Tag"),
            "task_note": _("Task"),
        }
        widgets = {"text": forms.Textarea(attrs={"rows": 3, "maxlength": MAX_TEXT_LENGTH})}

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = _workspace_tags(workspace)
        self.fields["wait_days"].widget.attrs.update(min=0, max=365)
        self.fields["wait_hours"].widget.attrs.update(min=0, max=23)
        self.fields["text"].help_text = _("Placeholders: {备注名} the remark name, {昵称} the nickname.")

    def clean_text(self):
        return self.cleaned_data["text"].replace("\r\n", "\n").strip()

    def clean_wait_days(self):
        days = self.cleaned_data["wait_days"]
        if days is not None and days > 365:
            raise ValidationError(_("Wait at most 365 days."))
        return days

    def clean_wait_hours(self):
        hours = self.cleaned_data["wait_hours"]
        if hours is not None and hours > 23:
            raise ValidationError(_("Enter at most 23 hours; use the days for longer waits."))
        return hours

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == SequenceStep.Action.MESSAGE and not data.get("text") and "text" not in self.errors:
            self.add_error("text", _("A message step needs the text to send."))
        if action == SequenceStep.Action.ADD_TAG and not data.get("tag") and "tag" not in self.errors:
            self.add_error("tag", _("An add-tag step needs the tag to add."))
        if action == SequenceStep.Action.TASK and not data.get("task_note") and "task_note" not in self.errors:
            self.add_error("task_note", _("A task step needs a note saying what to do."))
        return data


class BaseSequenceStepFormSet(BaseInlineFormSet):
    def __init__(self, *args, workspace, **kwargs):
        self.workspace = workspace
        super().__init__(*args, **kwargs)
        self.queryset = self.queryset.order_by("position", "id")

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "workspace": self.workspace}

    def kept_forms(self) -> list:
        """The filled-in rows not marked for removal, in page order."""
        return [
            form for form in self.forms
            if form.has_changed() or form.instance.pk
            if not (self.can_delete and self._should_delete_form(form))
        ]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if len(self.kept_forms()) > MAX_SEQUENCE_STEPS:
            raise ValidationError(_("A sequence holds at most 20 steps."))


SequenceStepFormSet = inlineformset_factory(
    Sequence, SequenceStep, form=SequenceStepForm, formset=BaseSequenceStepFormSet,
    extra=1, can_delete=True, max_num=MAX_SEQUENCE_STEPS, validate_max=True,
)


class EnrolSegmentForm(forms.Form):
    segment = forms.ModelChoiceField(label=_("Segment"), queryset=Segment.objects.none())

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.filter(workspace=workspace).order_by("name")
