import re

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm import attribution, selectors
from crm.models import Contact, CustomerGroup, Member, Order, Tag, TagGroup, TimelineEvent, WeChatAccount
from crm.phones import normalize_phone
from crm.widgets import FastSelect, FastSelectMultiple
from crm.selectors import ContactFilter

TAG_SEPARATORS = re.compile(r"[,，;；、\n]+")


def split_tag_names(text: str) -> list[str]:
    """Tag names typed as one line: commas (half or full width), semicolons, 、 or new lines separate them."""
    return [name.strip() for name in TAG_SEPARATORS.split(text or "") if name.strip()]


def grouped_tag_choices(tags: list[tuple[str, int, str]]) -> list:
    """Tag choices as <optgroup>s by tag group, ungrouped tags last; `tags` as in selectors.FilterChoices."""
    groups: dict[str, list] = {}
    for group_name, pk, name in tags:
        groups.setdefault(group_name, []).append((pk, name))
    ungrouped = groups.pop("", [])
    return [(name, choices) for name, choices in groups.items()] + ([(_("Other tags"), ungrouped)] if ungrouped else [])


class ContactFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Nickname, remark, WeChat ID or phone"), "type": "search"}),
    )
    tags_all = forms.TypedMultipleChoiceField(
        label=_("Has all of these tags"), coerce=int, required=False, widget=FastSelectMultiple
    )
    tags_any = forms.TypedMultipleChoiceField(
        label=_("Has any of these tags"), coerce=int, required=False, widget=FastSelectMultiple
    )
    tags_none = forms.TypedMultipleChoiceField(
        label=_("Has none of these tags"), coerce=int, required=False, widget=FastSelectMultiple
    )
    tag_group = forms.TypedChoiceField(label=_("Tag group"), coerce=int, required=False, empty_value=None, widget=FastSelect)
    account = forms.TypedChoiceField(label=_("WeChat account"), coerce=int, required=False, empty_value=None, widget=FastSelect)
    stage = forms.ChoiceField(label=_("Lifecycle stage"), required=False, widget=FastSelect)
    source = forms.ChoiceField(label=_("Source"), required=False, widget=FastSelect)

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        choices = selectors.contact_filter_choices(member=member)
        tag_choices = grouped_tag_choices(choices.tags)
        for name in ("tags_all", "tags_any", "tags_none"):
            self.fields[name].choices = tag_choices
        everything = [("", _("All"))]
        self.fields["tag_group"].choices = everything + choices.tag_groups
        self.fields["account"].choices = everything + choices.accounts
        self.fields["stage"].choices = everything + list(Contact.Stage.choices)
        self.fields["source"].choices = everything + list(Contact.Source.choices)

    def to_filter(self) -> ContactFilter:
        data = self.cleaned_data
        return ContactFilter(
            q=data.get("q", "").strip(),
            tags_all=tuple(sorted(set(data.get("tags_all") or ()))),
            tags_any=tuple(sorted(set(data.get("tags_any") or ()))),
            tags_none=tuple(sorted(set(data.get("tags_none") or ()))),
            tag_group=data.get("tag_group"),
            account=data.get("account"),
            stage=data.get("stage", ""),
            source=data.get("source", ""),
        )


def contact_filter_from_query(*, member: Member, data) -> tuple[ContactFilterForm, ContactFilter]:
    """The list's filter form and the filter it gives; an invalid filter narrows nothing (the form shows why)."""
    form = ContactFilterForm(data, member=member)
    return form, form.to_filter() if form.is_valid() else ContactFilter()


class PhoneField(forms.CharField):
    def clean(self, value):
        return normalize_phone(super().clean(value))


class ContactForm(forms.ModelForm):
    phone = PhoneField(label=_("phone"), required=False, max_length=30)

    class Meta:
        model = Contact
        fields = [
            "nickname", "remark_name", "description", "wechat_id", "phone", "gender", "region",
            "owner_account", "added_at", "source", "stage",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "added_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_account"].queryset = selectors.accounts_visible_to(member=member)
        self.fields["owner_account"].required = not member.sees_all_accounts
        if self.instance.pk is None and attribution.current():
            self._add_referral_code(member)

    def _add_referral_code(self, member: Member) -> None:
        """A new friend who came through a referral poster: the code they mention, or one of the recent scans."""
        self.referral_suggestions = attribution.current().recent_codes(workspace=member.workspace)
        self.fields["referral_code"] = forms.CharField(
            label=_("referral code"), max_length=16, required=False,
            help_text=_("The code the new friend mentions (or pick a recent scan): the friend who invited them "
                        "gets the credit."),
            widget=forms.TextInput(attrs={"list": "referral-codes", "autocomplete": "off"}),
        )

    def clean_referral_code(self):
        return "".join(self.cleaned_data.get("referral_code", "").split()).upper()

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in ("nickname", "remark_name", "wechat_id", "phone")):
            raise ValidationError(_("Give at least a nickname, a remark name, a WeChat ID or a phone number."))
        return data


class RemarkForm(forms.Form):
    remark_name = forms.CharField(label=_("remark name"), max_length=100, required=False)
    description = forms.CharField(
        label=_("description"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class TagNamesField(forms.CharField):
    """Tag names typed on one line, returned as a list."""

    def clean(self, value):
        names = split_tag_names(super().clean(value))
        for name in names:
            if len(name) > 50:
                raise ValidationError(_("“%(name)s” is longer than 50 characters."), params={"name": name})
        return names


class ContactTagsForm(forms.Form):
    tags = TagNamesField(
        label=_("tags"), required=False, max_length=2000,
        help_text=_("Separate tags with commas."),
        widget=forms.TextInput(attrs={"list": "tag-suggestions", "autocomplete": "off"}),
    )


class BulkTagForm(forms.Form):
    ACTIONS = [("add", _("Add tags")), ("remove", _("Remove tags"))]
    action = forms.ChoiceField(choices=ACTIONS)
    tags = TagNamesField(
        label=_("tags"), max_length=2000,
        widget=forms.TextInput(
            attrs={"list": "tag-suggestions", "autocomplete": "off", "placeholder": _("Tags, separated by commas")}
        ),
    )
    everything = forms.BooleanField(required=False)
    contacts = forms.TypedMultipleChoiceField(coerce=int, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Ids are checked against the member's contacts in the view; here they only have to be numbers.
        self.fields["contacts"].valid_value = lambda value: str(value).isdigit()

    def clean(self):
        data = super().clean()
        if not data.get("everything") and not data.get("contacts"):
            raise ValidationError(_("Select some contacts first, or choose everything matching the filter."))
        return data


class NoteForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(TimelineEvent.Kind.NOTE, _("Note")), (TimelineEvent.Kind.FOLLOW_UP, _("Follow-up"))],
        initial=TimelineEvent.Kind.NOTE,
    )
    body = forms.CharField(label=_("text"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class AvatarForm(forms.Form):
    # A FileField, not an ImageField: crm.images does the checking, with its own size and pixel limits.
    avatar = forms.FileField(label=_("avatar"))


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["amount", "placed_at", "channel", "items", "external_id"]
        widgets = {
            "placed_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "items": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["placed_at"].initial = timezone.localtime().strftime("%Y-%m-%dT%H:%M")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise ValidationError(_("The amount must be more than zero."))
        return amount


def _squeeze(text: str) -> str:
    """Runs of whitespace, leading and trailing included, as one space (as services.clean_tag_name does)."""
    return " ".join((text or "").split())


class TagGroupForm(forms.ModelForm):
    # workspace is no form field, so the form does not check the (workspace, name) constraint: clean_name does.

    class Meta:
        model = TagGroup
        fields = ["name", "exclusive", "position"]
        labels = {"exclusive": _("Exclusive: one tag per contact")}
        help_texts = {
            "exclusive": _("A contact holds at most one tag of this group: giving one takes the others off."),
            "position": _("Groups are listed by position, lowest first."),
        }

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_name(self):
        name = _squeeze(self.cleaned_data["name"])
        if not name:
            raise ValidationError(_("A tag group needs a name."))
        clash = TagGroup.objects.filter(workspace=self.workspace, name=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(_("A tag group named “%(name)s” exists already."), params={"name": name})
        return name


class TagForm(forms.Form):
    """A new tag (tag=None) or a tag's new name and group. A name taken by another tag is an error; for a rename,
    .clash is that other tag, so the page can offer to merge into it."""

    name = forms.CharField(label=_("name"), max_length=50)
    group = forms.ModelChoiceField(label=_("tag group"), queryset=TagGroup.objects.none(), required=False)

    def __init__(self, *args, workspace, tag: Tag | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.tag = tag
        self.clash = None
        self.fields["group"].queryset = TagGroup.objects.filter(workspace=workspace)

    def clean_name(self):
        name = _squeeze(self.cleaned_data["name"])
        if not name:
            raise ValidationError(_("A tag needs a name."))
        others = Tag.objects.filter(workspace=self.workspace, name=name)
        if self.tag:
            others = others.exclude(pk=self.tag.pk)
        self.clash = others.first()
        if self.clash and self.tag:
            raise ValidationError(
                _("A tag named “%(name)s” exists already: merge the two instead."), params={"name": name}
            )
        if self.clash:
            raise ValidationError(_("A tag named “%(name)s” exists already."), params={"name": name})
        return name


class TagMergeForm(forms.Form):
    target = forms.ModelChoiceField(label=_("merge into"), queryset=Tag.objects.none())

    def __init__(self, *args, tag: Tag, counts: dict[int, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["target"]
        field.queryset = (
            Tag.objects.filter(workspace_id=tag.workspace_id)
            .exclude(pk=tag.pk)
            .select_related("group")
            .order_by("group__position", "group__name", "name", "id")
        )
        if counts is not None:
            field.label_from_instance = lambda target: _("%(name)s (%(count)d contacts)") % {
                "name": f"{target.group.name} / {target.name}" if target.group else target.name,
                "count": counts.get(target.pk, 0),
            }


# How messages reach an account's friends, as the account pages name the channels (WeChatAccount.Channel's own
# labels are terser; these carry the "delivery channel" context in the translation catalogue).
CHANNEL_LABELS = {
    WeChatAccount.Channel.MANUAL: pgettext_lazy("delivery channel", "By hand: the send-today queue"),
    WeChatAccount.Channel.OUTBOX: pgettext_lazy("delivery channel", "Outbox: testing, nothing really sent"),
    WeChatAccount.Channel.WECOM: pgettext_lazy("delivery channel", "WeCom (企业微信)"),
}
# Channels an owner cannot choose yet, with the reason shown beside them.
CHANNELS_NOT_YET = {
    WeChatAccount.Channel.WECOM: pgettext_lazy("delivery channel", "coming with WeCom integration"),
}


class SelectWithDisabled(forms.Select):
    """A select whose options in `disabled_values` are shown but cannot be picked."""

    def __init__(self, *args, disabled_values=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.disabled_values = set(disabled_values)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        if str(value) in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


class WeChatAccountForm(forms.ModelForm):
    class Meta:
        model = WeChatAccount
        fields = ["name", "wechat_id", "capacity", "channel"]
        help_texts = {"capacity": _("WeChat allows about 10,000 friends per account.")}

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        # The model's MinValueValidator(1) refuses 0 on the server; this stops it in the browser too.
        self.fields["capacity"].widget.attrs["min"] = 1
        # An account already on a channel not offered yet (set up by hand) keeps it selectable, so that saving
        # its other fields does not fail.
        self.not_yet = {value: why for value, why in CHANNELS_NOT_YET.items() if value != self.instance.channel}
        channel = self.fields["channel"]
        channel.label = pgettext_lazy("delivery channel", "Delivery channel")
        channel.choices = [(value, self._channel_label(value)) for value in WeChatAccount.Channel.values]
        channel.widget = SelectWithDisabled(choices=channel.choices, disabled_values=self.not_yet)
        channel.required = False  # left out, the account keeps its channel (a new one: by hand)
        channel.help_text = pgettext_lazy(
            "delivery channel",
            "How messages to this account's friends go out. By hand: each message becomes a card in the send-today "
            "queue, and a staff member sends it from the account's phone.",
        )

    def _channel_label(self, value):
        if value in self.not_yet:
            return format_lazy("{} ({})", CHANNEL_LABELS[value], self.not_yet[value])
        return CHANNEL_LABELS[value]

    def clean_channel(self):
        channel = self.cleaned_data["channel"] or self.instance.channel or WeChatAccount.Channel.MANUAL
        if channel in self.not_yet:
            raise ValidationError(
                pgettext_lazy("delivery channel", "%(channel)s is not available yet: %(why)s."),
                params={"channel": CHANNEL_LABELS[channel], "why": self.not_yet[channel]},
            )
        return channel

    def clean_name(self):
        # The (workspace, name) constraint is not checked by the ModelForm: workspace is not one of its fields.
        name = self.cleaned_data["name"]
        clash = WeChatAccount.objects.filter(workspace=self.workspace, name=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(_("This workspace has a WeChat account with this name already."))
        return name


class CustomerGroupForm(forms.ModelForm):
    class Meta:
        model = CustomerGroup
        fields = ["name", "owner_account", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["owner_account"].queryset = WeChatAccount.objects.filter(workspace=workspace)

    def clean_name(self):
        name = _squeeze(self.cleaned_data["name"])
        if not name:
            raise ValidationError(_("A group needs a name."))
        clash = CustomerGroup.objects.filter(workspace=self.workspace, name=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(_("A group named “%(name)s” exists already."), params={"name": name})
        return name


class MemberForm(forms.Form):
    """A member's role and the WeChat accounts whose contacts they see."""

    role = forms.ChoiceField(label=_("role"), choices=Member.Role.choices, initial=Member.Role.STAFF)
    limited_to_assigned_accounts = forms.BooleanField(
        label=_("Only the contacts of assigned accounts"),
        required=False,
        help_text=_("Staff so limited see only the contacts of the WeChat accounts ticked below. Owners see everything."),
    )
    assigned_accounts = forms.ModelMultipleChoiceField(
        label=_("assigned WeChat accounts"),
        queryset=WeChatAccount.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_accounts"].queryset = WeChatAccount.objects.filter(workspace=workspace)

    def clean(self):
        data = super().clean()
        if (
            data.get("role") == Member.Role.STAFF
            and data.get("limited_to_assigned_accounts")
            and not data.get("assigned_accounts")
        ):
            raise ValidationError(_("A member limited to assigned accounts needs at least one account ticked."))
        return data


class MemberAddForm(MemberForm):
    """Add a member by username: an existing user joins; a new username becomes a user with the given password."""

    username = forms.CharField(label=_("username"), max_length=150)
    password = forms.CharField(
        label=_("password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Only for a new user; an existing user keeps their password."),
    )
    field_order = ["username", "password", "role", "limited_to_assigned_accounts", "assigned_accounts"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        username_field = get_user_model()._meta.get_field("username")
        for validator in username_field.validators:
            validator(username)
        return username

    def clean(self):
        data = super().clean()
        username, password = data.get("username"), data.get("password")
        if not username:
            return data
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            data["password"] = ""  # an existing user's password is never changed here
            return data
        if not password:
            self.add_error("password", _("“%(username)s” is a new user: give them a password.") % {"username": username})
        else:
            try:
                password_validation.validate_password(password, user=User(username=username))
            except ValidationError as error:
                self.add_error("password", error)
        return data


class ContactSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find contacts to add"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Nickname, remark, WeChat ID or phone"), "type": "search"}),
    )


class GroupMembersAddForm(forms.Form):
    contacts = forms.TypedMultipleChoiceField(
        coerce=int, error_messages={"required": _("Select some contacts first.")}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The view keeps only ids of contacts the member may see; here they only have to be numbers.
        self.fields["contacts"].valid_value = lambda value: str(value).isdigit()


class SegmentForm(forms.Form):
    """A segment's name and description; its rule comes from the builder (crm.views.segments) as JSON."""

    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=500, required=False)
    rule = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, workspace, segment=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace, self.segment = workspace, segment

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_rule(self):
        from crm.segments import validate_rule  # crm.segments is newer than this module's import list

        return validate_rule(workspace=self.workspace, rule=self.cleaned_data["rule"] or "", segment=self.segment)


# Import ------------------------------------------------------------------------------------------------------------


class ImportUploadForm(forms.Form):
    """A CSV or .xlsx file of contacts or orders, and for a staff member limited to some accounts, which of their
    WeChat accounts the new contacts go to."""

    kind = forms.ChoiceField(label=_("The file holds"), choices=[])
    file = forms.FileField(
        label=_("CSV or Excel (.xlsx) file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx"}),
    )
    encoding = forms.ChoiceField(
        label=_("Encoding"), required=False, choices=[],
        help_text=_("Detect works for UTF-8 (with or without BOM) and GBK / GB18030 exports."),
    )
    account = forms.ModelChoiceField(
        label=_("WeChat account of the new contacts"), queryset=WeChatAccount.objects.none(), required=False
    )

    def __init__(self, *args, member: Member, **kwargs):
        from crm.imports import ENCODING_CHOICES
        from crm.models import ImportJob

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = ImportJob.Kind.choices
        self.fields["encoding"].choices = ENCODING_CHOICES
        self.fields["account"].queryset = selectors.accounts_visible_to(member=member)
        self.fields["account"].required = not member.sees_all_accounts

    def clean_file(self):
        from crm.imports import MAX_UPLOAD_BYTES, ImportFileError, file_format

        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                _("The file is larger than %(mb)d MB: split it into smaller files."),
                params={"mb": MAX_UPLOAD_BYTES // (1024 * 1024)},
            )
        upload.seek(0)
        head = upload.read(8)
        upload.seek(0)
        try:
            file_format(upload.name, head)
        except ImportFileError as error:
            raise ValidationError(str(error)) from None
        return upload


class ImportMappingForm(forms.Form):
    """One choice per file column: the field it fills, or nothing. cleaned_data["columns"]: column → field."""

    def __init__(self, *args, kind: str, header: list[str], columns: dict[str, str], **kwargs):
        from crm.imports import FIELDS

        super().__init__(*args, **kwargs)
        self.kind, self.header = kind, header
        choices = [("", _("— ignore —"))] + list(FIELDS[kind].items())
        for index, column in enumerate(header):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=column, choices=choices, required=False, initial=columns.get(column, ""),
                widget=forms.Select(attrs={"aria-label": column}),
            )

    def columns(self):
        """(column name, bound field) for each column of the file, in file order."""
        return [(column, self[f"column_{index}"]) for index, column in enumerate(self.header)]

    def clean(self):
        from crm.imports import mapping_errors

        data = super().clean()
        columns = {column: data.get(f"column_{index}") for index, column in enumerate(self.header)}
        columns = {column: name for column, name in columns.items() if name}
        errors = mapping_errors(self.kind, self.header, columns)
        if errors:
            raise ValidationError(errors)
        data["columns"] = columns
        return data


class ReplyForm(forms.Form):
    """A reply the customer sent on WeChat, typed in by the seller (退订 or TD opts them out)."""

    reply = forms.CharField(
        label=pgettext_lazy("reply", "Record a reply"), max_length=5000,
        widget=forms.TextInput(
            attrs={"placeholder": pgettext_lazy("reply", "What the customer wrote"), "autocomplete": "off"}
        ),
    )
