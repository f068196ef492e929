"""What Siyu handed to WeCom besides mass sends: uploaded media, moment tasks, channel QR codes (联系我) and their
welcome messages."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, WeChatAccount, Workspace

__all__ = ["ContactWay", "MediaUpload", "MomentEngagementSeen", "MomentTask", "WelcomeMessage", "WelcomeSettings"]

STATE_MAX_LENGTH = 30  # WeCom's limit for a contact way's state


class MediaUpload(models.Model):
    """A picture uploaded to WeCom, by its storage name. WeCom keeps a temporary media_id for three days: until
    then every mass send or welcome message with that picture reuses it instead of uploading it again."""

    class Kind(models.TextChoices):
        IMAGE = "image", "media/upload"  # mass sends, welcome messages
        MOMENT = "moment", "media/upload_attachment"  # moments want attachments of their own

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=255)
    media_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "kind", "name"], name="wecom_media_once")]


class MomentTask(models.Model):
    """One externalcontact/add_moment_task call for a publication. WeCom creates the moment asynchronously (jobid
    → moment_id), the staff member then publishes it from the phone; likes and comments are fetched later."""

    class Status(models.TextChoices):
        CREATING = "creating", _("Being created by WeCom")
        WAITING = "waiting", _("Waiting for the staff member")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("No longer followed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    publication = models.OneToOneField("moments.Publication", on_delete=models.CASCADE, related_name="wecom_task")
    sender = models.CharField(max_length=64)
    jobid = models.CharField(max_length=128, blank=True)
    moment_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATING)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "checked_at"], name="wecom_moment_task_due")]


class MomentEngagementSeen(models.Model):
    """A like or comment WeCom reported, by its own key ("like:wm…", "comment:wm…:1700000000"): fetched again, it
    is found here and not recorded twice (comments, unlike likes, may repeat for one contact)."""

    task = models.ForeignKey(MomentTask, on_delete=models.CASCADE, related_name="seen")
    key = models.CharField(max_length=200)
    engagement = models.ForeignKey("moments.Engagement", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "key"], name="wecom_moment_engagement_once")]


class ContactWay(models.Model):
    """A channel QR code (联系我) made with externalcontact/add_contact_way. Its `state` comes back with every
    customer who scans it (the add_external_contact callback): the source, the referral and the welcome text."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="wecom_contact_ways")
    label = models.CharField(_("label"), max_length=60)
    accounts = models.ManyToManyField(WeChatAccount, related_name="wecom_contact_ways",
                                      verbose_name=_("WeCom accounts"))
    state = models.CharField(_("state"), max_length=STATE_MAX_LENGTH)
    source = models.CharField(_("source"), max_length=20, choices=Contact.Source.choices,
                              default=Contact.Source.CHANNEL_QR)
    welcome_text = models.TextField(_("welcome message"), max_length=2000, blank=True)
    welcome_image = models.ImageField(_("welcome picture"), upload_to="wecom/welcome/%Y/%m/", blank=True)
    participant = models.ForeignKey("referrals.Participant", on_delete=models.CASCADE, null=True, blank=True,
                                    related_name="wecom_contact_ways")
    config_id = models.CharField(max_length=128)
    qr_code = models.URLField(_("QR code"), max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("channel QR code")
        verbose_name_plural = _("channel QR codes")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "state"], name="wecom_contact_way_state")]

    def __str__(self):
        return self.label


class WelcomeSettings(models.Model):
    """The welcome message of a workspace for customers who came through no channel QR code with its own."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="wecom_welcome")
    text = models.TextField(_("default welcome message"), max_length=2000, blank=True)


class WelcomeMessage(models.Model):
    """One send_welcome_msg, claimed by its WelcomeCode before the call: WeCom's retried callbacks and a task run
    twice find the code taken and send nothing more."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        NONE = "none", _("No welcome message set")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    welcome_code = models.CharField(max_length=255)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    contact_way = models.ForeignKey(ContactWay, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "welcome_code"], name="wecom_welcome_once")]
