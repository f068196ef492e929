"""Moments posts (朋友圈): what a seller's WeChat accounts post to their friends' feeds, planned on a calendar and
published once per account; and the likes and comments they get."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, TimelineEvent, WeChatAccount, Workspace


class Post(models.Model):
    """One post: text, up to nine images or a link card, who sees it, and when. It goes out from each of its
    accounts once (a Publication per account)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")

    class Visibility(models.TextChoices):
        EVERYONE = "everyone", _("Everyone")
        ONLY_TAGS = "only_tags", _("Only customers with these tags (部分可见)")
        EXCEPT_TAGS = "except_tags", _("Everyone except customers with these tags (不给谁看)")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="moment_posts")
    text = models.TextField(_("text"), max_length=2000, blank=True)
    link = models.JSONField(_("link card"), null=True, blank=True)  # {"title", "description", "url"}
    link_cover = models.ImageField(_("link cover"), upload_to="moments/%Y/%m/", blank=True)
    visibility = models.CharField(_("who sees it"), max_length=12, choices=Visibility.choices,
                                  default=Visibility.EVERYONE)
    visibility_tags = models.JSONField(_("tags"), default=list, blank=True)  # tag ids, for ONLY_TAGS / EXCEPT_TAGS
    scheduled_at = models.DateTimeField(_("post at"), null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("moments post")
        verbose_name_plural = _("moments posts")
        ordering = ["scheduled_at", "id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="moment_post_due")]

    def __str__(self):
        return (self.text or (self.link or {}).get("title") or f"#{self.pk}")[:40]


class PostImage(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="moments/%Y/%m/")
    thumbnail = models.ImageField(upload_to="moments/thumbs/%Y/%m/")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class Publication(models.Model):
    """A post from one account. The unique (post, account) pair and the claim (WAITING → the next status with a
    conditional update) make it publish once, whatever the beat or the broker delivers twice."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Planned")
        PENDING = "pending", _("With the staff")  # a card in the send-today queue: post it by hand
        PUBLISHED = "published", _("Published")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="publications")
    account = models.ForeignKey(WeChatAccount, on_delete=models.CASCADE, related_name="moment_publications")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    # How many customers could see it when it was handed over (the visibility rule, resolved then).
    audience_size = models.PositiveIntegerField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "account"], name="moment_publication_once")]
        indexes = [models.Index(fields=["account", "status"], name="moment_publication_queue")]


class Engagement(models.Model):
    """A like or a comment of one contact on one post, with the timeline event it put on the contact's timeline
    (which is also what the "moments engagement" segment condition reads)."""

    class Kind(models.TextChoices):
        LIKE = "like", _("Like")
        COMMENT = "comment", _("Comment")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="engagements")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="moment_engagements")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    timeline_event = models.OneToOneField(TimelineEvent, on_delete=models.SET_NULL, null=True, blank=True,
                                          related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # A contact likes a post once; they may comment as often as they like.
            models.UniqueConstraint(fields=["post", "contact"], condition=models.Q(kind="like"),
                                    name="moment_like_once"),
        ]
        indexes = [models.Index(fields=["post", "kind"], name="moment_engagement_by_post")]
