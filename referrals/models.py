"""Referral campaigns (裂变, 任务宝): "invite 3 friends, get a gift". Customers enrolled as participants share a
poster whose QR code opens their landing page; the friends they bring become invites, which qualify under the
campaign's rule and earn the participant rewards, tier by tier, exactly once."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Contact, Order, WeChatAccount, Workspace


class Campaign(models.Model):
    class Status(models.TextChoices):
        # A context of their own: broadcasts and moments posts say "Scheduled" and "Ended" of other things.
        SCHEDULED = "scheduled", pgettext_lazy("referral campaign", "Scheduled")
        ACTIVE = "active", _("Running")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", pgettext_lazy("referral campaign", "Ended")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="referral_campaigns")
    name = models.CharField(_("name"), max_length=100)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    accounts = models.ManyToManyField(WeChatAccount, related_name="referral_campaigns",
                                      verbose_name=_("WeChat accounts new friends add"))
    # What the landing page shows: the QR code of the seller's WeChat that new friends scan to add them.
    friend_qr = models.ImageField(_("WeChat QR code to add"), upload_to="referrals/qr/%Y/%m/", blank=True)
    landing_text = models.CharField(_("landing page text"), max_length=200, blank=True)
    # The poster: a background, a line of text; every change bumps the version, and older posters are remade.
    poster_background = models.ImageField(_("poster background"), upload_to="referrals/backgrounds/%Y/%m/",
                                          blank=True)
    poster_text = models.CharField(_("poster text"), max_length=60, blank=True)
    poster_version = models.PositiveIntegerField(default=1)
    # Qualification: the invitee is new to the workspace (always), stays a friend this many days, and optionally
    # places a first order of at least this amount within this many days.
    stay_days = models.PositiveSmallIntegerField(_("stays a friend for (days)"), default=3,
                                                 validators=[MaxValueValidator(90)])
    require_order = models.BooleanField(_("needs a first order"), default=False)
    order_min_amount = models.DecimalField(_("first order of at least"), max_digits=10, decimal_places=2,
                                           default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))])
    order_within_days = models.PositiveSmallIntegerField(_("first order within (days)"), default=7,
                                                         validators=[MinValueValidator(1), MaxValueValidator(365)])
    # Fraud rules' thresholds (0: the rule is off).
    reward_cap = models.PositiveSmallIntegerField(_("rewards per participant at most"), default=0)
    burst_per_hour = models.PositiveSmallIntegerField(_("invites per participant per hour before holding"),
                                                      default=10)
    device_scan_limit = models.PositiveSmallIntegerField(_("codes one device may scan"), default=5)
    early_delete_days = models.PositiveSmallIntegerField(_("flag invitees who delete us within (days of the reward)"),
                                                         default=7)
    notify_progress = models.BooleanField(_("message participants their progress"), default=False)
    # A customer who replies this word (海报, say) is enrolled and sent their poster: "every customer who asks".
    enrol_keyword = models.CharField(_("enrol customers who reply"), max_length=20, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("referral campaign")
        verbose_name_plural = _("referral campaigns")
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["status", "starts_at"], name="referral_campaign_due")]

    def __str__(self):
        return self.name

    def is_running(self, now) -> bool:
        """Open to scans and new friends: not paused or ended, and within its dates (the beat's tick may not have
        caught up with them yet)."""
        return self.status in (self.Status.SCHEDULED, self.Status.ACTIVE) and self.starts_at <= now < self.ends_at


class RewardTier(models.Model):
    """What a participant earns at a number of qualified invites (3: a sample; 10: a full-size product)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tiers")
    invites = models.PositiveSmallIntegerField(_("qualified invites"), validators=[MinValueValidator(1)])
    name = models.CharField(_("reward"), max_length=60)
    cost = models.DecimalField(_("cost to you"), max_digits=10, decimal_places=2, default=Decimal("0.00"),
                               validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        ordering = ["invites", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "invites"], name="referral_tier_unique")]

    def __str__(self):
        return f"{self.invites}: {self.name}"


class Participant(models.Model):
    """A customer sharing the campaign, with their personal code (the landing page's address, the WeCom state)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="participants", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="referral_participations")
    code = models.CharField(max_length=12, unique=True)
    # Kept in step with the invites by the services, so that the leaderboard reads one index.
    qualified_count = models.PositiveIntegerField(default=0)
    poster = models.ImageField(upload_to="referrals/posters/%Y/%m/", blank=True)
    poster_version = models.PositiveIntegerField(default=0)  # the campaign's poster_version it was made from
    poster_wanted = models.BooleanField(default=True)
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    enrolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="referral_participant_once")]
        indexes = [
            models.Index(fields=["campaign", "-qualified_count", "id"], name="referral_leaderboard"),
            models.Index(fields=["campaign", "poster_wanted"], condition=models.Q(poster_wanted=True),
                         name="referral_poster_queue"),
        ]

    def __str__(self):
        return self.code


class Scan(models.Model):
    """One visit of a landing page; a device that scans many codes of a campaign is not counted past the limit."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="scans", db_index=False)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="scans", db_index=False)
    device = models.CharField(max_length=32)  # a hash of the first-party cookie and the user agent
    counted = models.BooleanField(default=True)
    scanned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["participant", "device", "-scanned_at"], name="referral_scan_participant"),
            models.Index(fields=["campaign", "device"], name="referral_scan_device"),
            models.Index(fields=["campaign", "-scanned_at"], name="referral_scan_recent"),
        ]


class Invite(models.Model):
    """A friend a participant brought. PENDING until the rule is met (QUALIFIED) or broken (VOID); HELD waits for
    the seller's approval; REFUSED by a fraud rule. `reasons` say why, for the seller to see."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to qualify")
        HELD = "held", _("Held for approval")
        QUALIFIED = "qualified", _("Qualified")
        VOID = "void", _("Void")
        REFUSED = "refused", _("Refused")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invites", db_index=False)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="invites", db_index=False)
    invitee = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="referral_invites")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reasons = models.JSONField(default=list, blank=True)  # [{"rule": "burst", "action": "hold"}, ...]
    attributed_at = models.DateTimeField(default=timezone.now)
    check_at = models.DateTimeField(null=True, blank=True)  # when the beat looks at a PENDING invite again
    qualified_at = models.DateTimeField(null=True, blank=True)
    qualifying_order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "invitee"], name="referral_invite_once")]
        indexes = [
            models.Index(fields=["participant", "status"], name="referral_invite_participant"),
            models.Index(fields=["campaign", "status"], name="referral_invite_status"),
            models.Index(fields=["check_at"], condition=models.Q(status="pending"), name="referral_invite_due"),
        ]


class Reward(models.Model):
    """A tier earned by a participant: one row per (participant, tier), so however often or concurrently the
    check runs, the reward is granted once. GRANTED → DELIVERED by the seller; CLAWED_BACK when a refund takes
    the participant back under the tier."""

    class Status(models.TextChoices):
        GRANTED = "granted", _("Granted")
        DELIVERED = "delivered", _("Delivered")
        CLAWED_BACK = "clawed_back", _("Clawed back")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="rewards", db_index=False)
    tier = models.ForeignKey(RewardTier, on_delete=models.CASCADE, related_name="rewards")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.GRANTED)
    granted_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    clawed_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["granted_at", "id"]
        constraints = [models.UniqueConstraint(fields=["participant", "tier"], name="referral_reward_once")]


class AcquisitionCost(models.Model):
    """What a new customer costs the seller through a paid channel, to compare a campaign's cost with."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="acquisition_costs")
    channel = models.CharField(_("channel"), max_length=40)
    cost_per_customer = models.DecimalField(_("cost per new customer"), max_digits=10, decimal_places=2,
                                            validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        ordering = ["channel", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "channel"], name="acquisition_cost_unique")]

    def __str__(self):
        return self.channel
