"""The moments composer, the calendar's move, and the likes and comments recorded on a post."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.forms import DATETIME_FORMATS, DATETIME_INPUT, IMAGE_ACCEPT, MessageContentForm
from crm import selectors as crm_selectors
from crm.forms import grouped_tag_choices
from crm.models import Member, Tag
from crm.widgets import FastSelectMultiple
from moments.models import Engagement, Post, PostImage
from moments.services import MAX_COMMENT_LENGTH, MAX_IMAGES, MAX_TEXT_LENGTH

# The buttons under the composer: keep it a draft, schedule it for its time, or publish it now.
ACTIONS = ("draft", "schedule", "now")


class PostForm(MessageContentForm):
    text = forms.CharField(
        label=_("Text"), max_length=MAX_TEXT_LENGTH, required=False,
        widget=forms.Textarea(attrs={"rows": 8, "maxlength": MAX_TEXT_LENGTH}),
        help_text=_("Up to 2,000 characters. WeChat folds a long post after six lines behind “全文”."),
    )
    link_cover = forms.FileField(label=_("Link cover"), required=False,
                                 widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}))
    remove_cover = forms.BooleanField(label=_("Remove the cover"), required=False)
    accounts = forms.TypedMultipleChoiceField(
        label=_("Post from"), coerce=int, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose the WeChat accounts that post it.")},
    )
    visibility = forms.ChoiceField(label=_("Who sees it"), choices=Post.Visibility.choices,
                                   initial=Post.Visibility.EVERYONE, widget=forms.RadioSelect)
    visibility_tags = forms.TypedMultipleChoiceField(label=_("Tags"), coerce=int, required=False,
                                                     widget=FastSelectMultiple)
    scheduled_at = forms.CharField(
        label=_("Post at"), required=False, max_length=30,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, member: Member, post: Post | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member
        self.post = post
        self.zone = ZoneInfo(member.workspace.time_zone)
        self.fields["accounts"].choices = list(
            crm_selectors.accounts_visible_to(member=member).values_list("pk", "name")
        )
        tags = Tag.objects.filter(workspace=member.workspace).select_related("group").order_by(
            "group__position", "group__name", "name"
        )
        self.fields["visibility_tags"].choices = grouped_tag_choices(
            [(tag.group.name if tag.group else "", tag.pk, tag.name) for tag in tags]
        )
        self.existing_images = list(PostImage.objects.filter(post=post)) if post else []
        self.fields["remove_images"].choices = [(image.pk, image.pk) for image in self.existing_images]
        if post and not self.is_bound:
            self.initial.update(self.initial_for(post))

    def initial_for(self, post: Post) -> dict:
        link = post.link or {}
        return {
            "text": post.text, "link_title": link.get("title", ""), "link_description": link.get("description", ""),
            "link_url": link.get("url", ""), "visibility": post.visibility, "visibility_tags": post.visibility_tags,
            "accounts": list(post.publications.values_list("account_id", flat=True)),
            "scheduled_at": self.local_input(post.scheduled_at),
        }

    def local_input(self, at: datetime | None) -> str:
        return timezone.localtime(at, self.zone).strftime(DATETIME_INPUT) if at else ""

    def clean_text(self):
        return self.cleaned_data["text"].replace("\r\n", "\n")

    def clean(self):
        data = super().clean()
        action = self.data.get("action", "draft")
        data["schedule"] = action in ("schedule", "now")
        data["scheduled_at"] = timezone.now() if action == "now" else self._when(data.get("scheduled_at", ""))
        if action == "schedule" and data["scheduled_at"] is None and "scheduled_at" not in self.errors:
            self.add_error("scheduled_at", _("Choose the date and time to post it."))
        data["link"] = self._link(data)
        removed = set(data.get("remove_images") or [])
        total = len([i for i in self.existing_images if i.pk not in removed]) + len(data.get("images") or [])
        if total > MAX_IMAGES:
            self.add_error("images", ValidationError(
                _("A post holds at most 9 images; this would make %(n)d."), params={"n": total}
            ))
        if data["link"] and total:
            raise ValidationError(_("A post carries images or a link card, not both: remove one of them."))
        if data.get("visibility") != Post.Visibility.EVERYONE and not data.get("visibility_tags") \
                and "visibility_tags" not in self.errors:
            self.add_error("visibility_tags", _("Choose the tags that decide who sees the post."))
        return data

    def _link(self, data) -> dict | None:
        link = {"title": data.get("link_title", ""), "description": data.get("link_description", ""),
                "url": data.get("link_url", "")}
        if not any(link.values()):
            return None
        if not link["title"]:
            self.add_error("link_title", _("A link card needs a title."))
        if not link["url"] and "link_url" not in self.errors:
            self.add_error("link_url", _("A link card needs a web address."))
        return link

    def _when(self, value: str):
        value = (value or "").strip()
        if not value:
            return None
        for pattern in DATETIME_FORMATS:
            try:
                return timezone.make_aware(datetime.strptime(value, pattern), self.zone)
            except ValueError:
                continue
        self.add_error("scheduled_at", _("Enter a date and time such as 2026-11-11 20:00."))
        return None

    def preview_input(self) -> dict:
        """What the live preview shows, whatever is still invalid (left out)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        usable = {key: data.get(key) for key in ("accounts", "visibility", "visibility_tags") if key not in self.errors}
        link = {"title": self.data.get("link_title", "")[:64], "description": self.data.get("link_description", "")[:120]}
        return {
            "text": (self.data.get("text") or "").replace("\r\n", "\n")[:MAX_TEXT_LENGTH],
            "link": link if link["title"] else None,
            "account_ids": usable.get("accounts") or [],
            "visibility": usable.get("visibility") or Post.Visibility.EVERYONE,
            "tag_ids": usable.get("visibility_tags") or [],
            "removed_images": set(data.get("remove_images") or []),
        }


class MoveForm(forms.Form):
    day = forms.DateField(label=_("Move to"), widget=forms.DateInput(attrs={"type": "date"}))


class EngagementForm(forms.Form):
    contact = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(choices=Engagement.Kind.choices, widget=forms.HiddenInput)
    comment = forms.CharField(label=_("Comment"), max_length=MAX_COMMENT_LENGTH, required=False)
