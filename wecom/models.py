"""A workspace's WeCom app (credentials), the log of callbacks WeCom delivered and the mass sends handed to it."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import WeChatAccount, Workspace
from wecom import sealing


def new_callback_key() -> str:
    """The unguessable part of a workspace's callback URL."""
    return secrets.token_urlsafe(18)


class WeComCredentials(models.Model):
    """The self-built app (自建应用) a seller created in the WeCom admin console. Secrets are stored sealed
    (wecom/sealing.py) and never shown back in full."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="wecom_credentials")
    corp_id = models.CharField(_("corp ID"), max_length=64)
    agent_id = models.CharField(_("agent ID"), max_length=32, blank=True)
    sealed_secret = models.TextField(blank=True)
    sealed_callback_token = models.TextField(blank=True)
    sealed_encoding_aes_key = models.TextField(blank=True)
    callback_key = models.CharField(max_length=32, unique=True, default=new_callback_key)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("WeCom credentials")
        verbose_name_plural = _("WeCom credentials")

    def __str__(self):
        return f"{self.corp_id} @ {self.workspace}"

    @property
    def secret(self) -> str:
        return sealing.unseal(self.sealed_secret)

    @property
    def callback_token(self) -> str:
        return sealing.unseal(self.sealed_callback_token)

    @property
    def encoding_aes_key(self) -> str:
        return sealing.unseal(self.sealed_encoding_aes_key)


class CallbackEvent(models.Model):
    """One callback WeCom delivered. The unique dedupe key makes a retried delivery a no-op: WeCom retries a
    callback it got no quick answer to, up to three times."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        DONE = "done", _("Done")
        AWAITING_SYNC = "awaiting_sync", _("Waiting for the next sync")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="wecom_callback_events")
    dedupe_key = models.CharField(max_length=64)
    event = models.CharField(max_length=50, blank=True)
    change_type = models.CharField(max_length=50, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "dedupe_key"], name="wecom_callback_unique_dedupe_key"),
        ]
        indexes = [models.Index(fields=["workspace", "status", "received_at"], name="wecom_callback_ws_status")]

    def __str__(self):
        return f"{self.change_type or self.event} ({self.status})"


class MassSend(models.Model):
    """One externalcontact/add_msg_template call: a message the sender confirms in the WeCom app, for up to 10,000
    customers. The batch key (the messages' refs) is claimed before the call, so a batch handed over again is not
    sent twice; `recipients` maps each external userid to its message's ref for the results fetched later."""

    class Status(models.TextChoices):
        CALLING = "calling", _("Being handed to WeCom")
        SUBMITTED = "submitted", _("Waiting for the sender")
        FAILED = "failed", _("Failed")
        FINISHED = "finished", _("Results fetched")  # every customer's result is final (wecom/results.py)
        EXPIRED = "expired", _("No longer followed")  # WeCom's three days passed with results still open

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(WeChatAccount, on_delete=models.CASCADE, related_name="wecom_mass_sends")
    batch_key = models.CharField(max_length=64)
    sender = models.CharField(max_length=64)
    msgid = models.CharField(max_length=128, blank=True)
    recipients = models.JSONField(default=dict)
    failed = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CALLING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The results fetched (wecom/results.py): each external userid's final status code, reported once.
    results = models.JSONField(default=dict, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)  # the sender confirmed it in the WeCom app
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "batch_key"], name="wecom_mass_send_unique_batch")]
        indexes = [models.Index(fields=["status", "checked_at"], name="wecom_mass_send_due")]


# The models of the sync and of sending live in their own modules; Django finds every model through this one.
from wecom.sending_models import *  # noqa: E402,F401,F403
from wecom.sync_models import *  # noqa: E402,F401,F403
