"""The sync's own records: where each sync stopped and which WeCom object each Siyu row stands for."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, CustomerGroup, Tag, TagGroup, Workspace

__all__ = ["SyncState", "WeComContact", "WeComTag", "WeComTagGroup", "WeComGroupChat"]


class SyncState(models.Model):
    """One kind of sync of one workspace. A run saves its cursor in the transaction that applies each page, so a
    run cut off (a worker killed, WeCom unreachable) continues from the page it stopped at. `lease_until` is
    claimed with a conditional update: two workers never run the same kind at once, and a dead worker's lease
    runs out."""

    class Kind(models.TextChoices):
        TAGS = "tags", _("Corp tags")
        CONTACTS = "contacts", _("Staff and customers")
        GROUPS = "groups", _("Customer groups")

    class Status(models.TextChoices):
        IDLE = "idle", _("Never run")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Stopped (continues at the next sync)")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="wecom_sync_states")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IDLE)
    # Each run has a number; the rows it sees are stamped with it, and those left unstamped vanished.
    run = models.PositiveIntegerField(default=0)
    cursor = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "kind"], name="wecom_sync_state_unique_kind")]

    def __str__(self):
        return f"{self.kind} ({self.status})"


class WeComContact(models.Model):
    """A contact as WeCom last showed it (or as Siyu last wrote it there): the base that tells a change made in
    WeCom from one made in Siyu, so each side's change goes to the other once and an echo goes nowhere."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="wecom_link")
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    remark = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    tag_ids = models.JSONField(default=list, blank=True)
    seen_run = models.PositiveIntegerField(default=0)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "userid", "external_userid"], name="wecom_contact_unique_follow"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "external_userid"], name="wecom_contact_ws_external")]


class WeComTagGroup(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    group = models.ForeignKey(TagGroup, on_delete=models.CASCADE, related_name="+")
    wecom_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "wecom_id"], name="wecom_tag_group_unique_id"),
        ]


class WeComTag(models.Model):
    """A corp tag (企业标签) and the Siyu tag that stands for it. A tag deleted in WeCom keeps its row (gone_at),
    so contacts that held it lose it at the next sync."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    tag = models.OneToOneField(Tag, on_delete=models.CASCADE, related_name="wecom_tag")
    wecom_id = models.CharField(max_length=64)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "wecom_id"], name="wecom_tag_unique_id")]


class WeComGroupChat(models.Model):
    """A customer group chat (客户群) and the Siyu customer group that stands for it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    group = models.OneToOneField(CustomerGroup, on_delete=models.CASCADE, related_name="wecom_chat")
    chat_id = models.CharField(max_length=64)
    seen_run = models.PositiveIntegerField(default=0)
    gone_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "chat_id"], name="wecom_group_chat_unique_id")]
