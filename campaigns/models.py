"""Automation on top of the customer book: broadcasts (群发) and their deliveries, one per recipient, and follow-up
sequences (SOP) with their enrolments."""

from datetime import time, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.content_check import default_ad_words_text
from crm.models import Contact, WeChatAccount, Workspace


class MessagingSettings(models.Model):
    """The rules that protect a workspace's WeChat accounts from looking like spam (one row per workspace)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="messaging_settings")
    quiet_start = models.TimeField(_("quiet hours start"), default=time(22, 0))
    quiet_end = models.TimeField(_("quiet hours end"), default=time(8, 0))
    daily_cap = models.PositiveSmallIntegerField(_("broadcasts per customer per day"), default=1)
    # None: as many as the month has days, WeCom's own rule.
    monthly_cap = models.PositiveSmallIntegerField(_("broadcasts per customer per month"), null=True, blank=True)
    # The content check's words (crm.content_check), one a line; broadcasts and moments posts warn on each.
    ad_words = models.TextField(_("words to warn about"), blank=True, max_length=5000, default=default_ad_words_text)

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

    # Deliveries are the busiest table there is (a row per recipient of every broadcast, rewritten as it is claimed
    # and sent), and each status change rewrites every index of the row; so no foreign key here has an index of its
    # own. broadcast and contact lead the indexes below; workspace and account are never searched by, and deleting
    # a workspace or a WeChat account (rare, and done by the owner) reads the table instead.
    # Nor do workspace and account have a database constraint: PostgreSQL checks a foreign key row by row at the
    # commit, and for a start of 100,000 deliveries the checks of these two (the same few rows each time) took as
    # long as writing the rows (0.8 s). workspace is always the broadcast's, whose own key holds; accounts are not
    # deleted by the app, and Django's delete of one (the admin) still clears the column here (SET_NULL); a chunk
    # that finds an account gone skips its deliveries (services._send_claimed).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    account = models.ForeignKey(
        WeChatAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False,
        db_constraint=False,
    )
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


class Sequence(models.Model):
    """A follow-up sequence (SOP): steps that run for each contact it enrols, one after another."""

    class Trigger(models.TextChoices):
        CONTACT_ADDED = "contact_added", _("Contact added")
        TAG_ADDED = "tag_added", _("Tag added")
        ORDER_PLACED = "order_placed", _("Order placed")
        NO_ORDER_FOR = "no_order_for", _("No order for N days")
        GROUP_JOINED = "group_joined", _("Joined a customer group")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sequences")
    name = models.CharField(_("name"), max_length=100)
    trigger = models.CharField(_("starts when"), max_length=20, choices=Trigger.choices)
    trigger_tag = models.ForeignKey("crm.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    trigger_group = models.ForeignKey(
        "crm.CustomerGroup", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trigger_days = models.PositiveSmallIntegerField(_("days without an order"), null=True, blank=True)
    exit_on_order = models.BooleanField(_("stop when the contact orders"), default=False)
    exit_tag = models.ForeignKey(
        "crm.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("stop when this tag is added"),
    )
    active = models.BooleanField(_("active"), default=False)
    # When the "no order for N days" trigger last looked for contacts to enrol.
    scanned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("follow-up sequence")
        verbose_name_plural = _("follow-up sequences")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class SequenceStep(models.Model):
    class Action(models.TextChoices):
        MESSAGE = "message", _("Send a message")
        ADD_TAG = "add_tag", _("Add a tag")
        TASK = "task", _("Create a task for the seller")

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    wait_days = models.PositiveSmallIntegerField(_("wait days"), default=0)
    wait_hours = models.PositiveSmallIntegerField(_("wait hours"), default=0)
    action = models.CharField(_("then"), max_length=10, choices=Action.choices)
    text = models.TextField(_("message"), max_length=2000, blank=True)
    tag = models.ForeignKey("crm.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    task_note = models.CharField(_("task"), max_length=200, blank=True)

    class Meta:
        ordering = ["position", "id"]

    @property
    def wait(self) -> timedelta:
        return timedelta(days=self.wait_days, hours=self.wait_hours)


class Enrolment(models.Model):
    """A contact going through a sequence. `next_run_at` is when its next step is due: the tick picks due rows up
    from the database (no long ETA tasks), locking them with SKIP LOCKED so two ticks share the work."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Stopped")

    class ExitReason(models.TextChoices):
        ORDERED = "ordered", _("Ordered")
        TAG_ADDED = "tag_added", _("Tag added")
        OPTED_OUT = "opted_out", _("Opted out")
        SEQUENCE_STOPPED = "sequence_stopped", _("Sequence stopped")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrolments")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="enrolments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    step_index = models.PositiveSmallIntegerField(default=0)  # the next step to run
    next_run_at = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=20, choices=ExitReason.choices, blank=True)

    class Meta:
        constraints = [
            # Once in a sequence at a time; after it ends, a new trigger may enrol the contact again.
            models.UniqueConstraint(
                fields=["sequence", "contact"], condition=models.Q(status="active"), name="enrolment_one_active"
            ),
        ]
        indexes = [
            models.Index(fields=["next_run_at"], condition=models.Q(status="active"), name="enrolment_due"),
            models.Index(fields=["contact", "status"], name="enrolment_by_contact"),
        ]


class StepRun(models.Model):
    """One step run for one enrolment: the unique pair is what makes a step happen once."""

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        PENDING = "pending", _("With the staff")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="runs")
    step = models.ForeignKey(SequenceStep, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrolment", "step"], name="step_run_once")]


class FollowUpTask(models.Model):
    """A "do this" for the seller that a sequence step created (call back, send a sample...)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="follow_up_tasks")
    enrolment = models.ForeignKey(Enrolment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.CharField(_("task"), max_length=200)
    due_on = models.DateField(_("due on"))
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "done_at", "due_on"], name="follow_up_task_open")]


SEQUENCE_REF_PREFIX = "sq:"


def step_ref(enrolment_id: int, step_id: int) -> str:
    """The id a channel knows a sequence message by (crm.wechat.Message.ref)."""
    return f"{SEQUENCE_REF_PREFIX}{enrolment_id}:{step_id}"
