"""Rollups behind the reports: what a refresh (reports.rollups) writes so that the pages need not read every order.

One CustomerRollup row per contact with a valid order, one OrderSequence row per valid order (the repeat-purchase
report of any range), the CohortCell counts per month of first order, and one RollupState per workspace saying when
they were last refreshed ("fresh as of"). Besides: each workspace's
lifecycle thresholds (LifecycleSettings) and the reorder follow-ups queued (ReorderNudge).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, Order, Workspace


class RollupState(models.Model):
    """When the workspace's rollups were last written, and from which version of the customer book."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="report_rollup_state")
    refreshed_at = models.DateTimeField(_("refreshed at"))
    # crm.selectors.book_version at the refresh: a later change to the book makes the rollups stale.
    book_version = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    customers = models.PositiveIntegerField(default=0)
    # The RFM quintile boundaries of this refresh (reports.rfm): {"r": [4 times], "f": [4 counts], "m": [4 sums]}.
    rfm_cuts = models.JSONField(default=dict)
    # The time zone whose local days the order sequences were written in; blank until a refresh has written them
    # (a workspace refreshed before they existed). Another zone than the workspace's now: they are not used.
    sequence_zone = models.CharField(max_length=64, blank=True, default="")
    sequence_orders = models.PositiveIntegerField(default=0)


class CustomerRollup(models.Model):
    """A contact's valid orders in one row: the RFM table and the cohorts read these, not the orders."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    first_order_at = models.DateTimeField()
    last_order_at = models.DateTimeField()
    order_count = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "contact"], name="customer_rollup_unique_contact"),
        ]


class OrderSequence(models.Model):
    """A valid order with the moments of the same customer's valid orders around it, in the order (placed_at, id):
    the five before it and the one after. For a range [S, U) an order is then its customer's k-th in the range
    when exactly k - 1 of its previous orders are at or after S, so the repeat-purchase figures of any range are
    plain counts over the range's rows (reports.selectors), with no window over every customer's orders.

    Rewritten whole by each refresh; no foreign key constraints, so that writing two million rows checks none (an
    order or contact deleted meanwhile leaves its row until the next refresh, which the book change asks for).
    """

    # The row's own id, not the order's, is the primary key: rows are written in time order, so the ids (and the
    # range index) grow at the right edge, where the order ids would land all over their index (a refresh of two
    # million orders spent a third of its time there).
    order = models.ForeignKey(
        Order, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    placed_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    # Local days (the workspace's zone) from the previous order's day to this one's: the gap to a second order.
    gap_days = models.IntegerField(null=True)
    prev1_at = models.DateTimeField(null=True)
    prev2_at = models.DateTimeField(null=True)
    prev3_at = models.DateTimeField(null=True)
    prev4_at = models.DateTimeField(null=True)
    prev5_at = models.DateTimeField(null=True)
    next_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            # Every column the report reads rides in the index: a range is one index-only scan (PostgreSQL).
            models.Index(
                fields=["workspace", "placed_at"], name="order_sequence_range",
                include=["contact", "amount", "gap_days", "prev1_at", "prev2_at", "prev3_at", "prev4_at",
                         "prev5_at", "next_at"],
            ),
        ]


class CohortCell(models.Model):
    """The customers whose first order fell in `cohort` (a month) who ordered in the month `months_later` after it,
    and what they spent then. months_later 0 is the cohort itself."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    cohort = models.DateField()  # the first day of the month, in the workspace's time zone
    months_later = models.PositiveSmallIntegerField()
    customers = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["cohort", "months_later"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "cohort", "months_later"], name="cohort_cell_unique"),
        ]


class LifecycleSettings(models.Model):
    """The thresholds behind the lifecycle stages and the reorder nudge of one workspace (docs/reports.md,
    "Lifecycle stages"). A workspace without a row uses the defaults below."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="lifecycle_settings")
    engaged_days = models.PositiveSmallIntegerField(
        _("engaged: replied or interacted within (days)"), default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    vip_orders = models.PositiveSmallIntegerField(
        _("VIP: at least this many orders"), default=5, validators=[MinValueValidator(2), MaxValueValidator(10000)]
    )
    vip_spent = models.DecimalField(
        _("VIP: or at least this much spent (yuan)"), max_digits=12, decimal_places=2, default=Decimal("2000.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    dormant_days = models.PositiveSmallIntegerField(
        _("dormant: no order for (days)"), default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    lost_days = models.PositiveSmallIntegerField(
        _("lost: nothing at all for (days)"), default=180, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    reorder_text = models.TextField(
        _("follow-up text for customers due to reorder"), max_length=1000,
        default="{备注名}，好久不见！上次的宝贝用得怎么样？需要补货的话随时找我～",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("lifecycle settings")
        verbose_name_plural = _("lifecycle settings")

    def clean(self):
        if self.lost_days is not None and self.dormant_days is not None and self.lost_days <= self.dormant_days:
            raise ValidationError({"lost_days": _("Lost must come after dormant: more days than dormant.")})


class ReorderNudge(models.Model):
    """A follow-up queued for a customer due to reorder: one per contact per local day, so a double click (or two
    staff at once) sends one message."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "day"], name="reorder_nudge_once_a_day"),
        ]
        indexes = [models.Index(fields=["workspace", "day"], name="reorder_nudge_ws_day")]
