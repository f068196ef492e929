"""Automation on top of the customer book: broadcasts (群发) and their deliveries, one per recipient."""

from datetime import time

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, WeChatAccount, Workspace


class MessagingSettings(models.Model):
    """The rules that protect a workspace's WeChat accounts from looking like spam (one row per workspace)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="messaging_settings")
    quiet_start = models.TimeField(_("quiet hours start"), default=time(22, 0))
    quiet_end = models.TimeField(_("quiet hours end"), default=time(8, 0))
    daily_cap = models.PositiveSmallIntegerField(_("broadcasts per customer per day"), default=1)
    # None: as many as the month has days, WeCom's own rule.
    monthly_cap = models.PositiveSmallIntegerField(_("broadcasts per customer per month"), null=True, blank=True)

    class Meta:
        verbose_name = _("messaging settings")
        verbose_name_plural = _("messaging settings")


class Broadcast(models.Model):
    """A message to an audience, sent now or at a time; its Delivery rows say what reached whom."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        FINISHED = "finished", _("Finished")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="broadcasts")
    name = models.CharField(_("name"), max_length=100)
    text = models.TextField(_("text"), max_length=2000, blank=True)
    link = models.JSONField(_("link card"), null=True, blank=True)  # {"title", "description", "url"}
    # {"segments": [ids], "tags": [ids], "groups": [ids], "accounts": [ids],
    #  "exclude_segments": [ids], "exclude_tags": [ids]}: anyone in any of the first four, minus the exclusions.
    audience = models.JSONField(_("audience"), default=dict)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # When chunks were last queued: the tick queues the remaining ones again if nothing moved for a while.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="broadcast_due")]

    def __str__(self):
        return self.name


class BroadcastImage(models.Model):
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="broadcasts/%Y/%m/")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class Delivery(models.Model):
    """One broadcast to one contact. The unique (broadcast, contact) pair and the claim (QUEUED → CLAIMED with a
    conditional update) are what make the send exactly once, whatever the broker redelivers."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        CLAIMED = "claimed", _("Sending")
        PENDING = "pending", _("With the staff")  # handed to the send-today queue, or awaiting the channel's result
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    class SkipReason(models.TextChoices):
        OPTED_OUT = "opted_out", _("Opted out")
        DAILY_CAP = "daily_cap", _("Already messaged today")
        MONTHLY_CAP = "monthly_cap", _("Monthly limit reached")
        NO_ACCOUNT = "no_account", _("No WeChat account")
        CANCELLED = "cancelled", _("Broadcast cancelled")
        BY_STAFF = "by_staff", _("Skipped by staff")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="deliveries")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deliveries")
    account = models.ForeignKey(WeChatAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.CharField(max_length=32, blank=True)  # which run of a chunk task holds the row
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast", "contact"], name="delivery_once_per_contact")]
        indexes = [
            models.Index(fields=["broadcast", "status", "id"], name="delivery_progress"),
            # The frequency caps: what a contact was sent recently.
            models.Index(fields=["contact", "created_at"], name="delivery_contact_recent"),
        ]

    @property
    def ref(self) -> str:
        return delivery_ref(self.pk)


REF_PREFIX = "bd:"


def delivery_ref(delivery_id: int) -> str:
    """The id a channel knows this delivery by (crm.wechat.Message.ref)."""
    return f"{REF_PREFIX}{delivery_id}"
