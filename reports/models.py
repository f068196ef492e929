"""Rollups behind the reports: what a refresh (reports.rollups) writes so that the pages need not read every order.

One CustomerRollup row per contact with a valid order, the CohortCell counts per month of first order, and one
RollupState per workspace saying when they were last refreshed ("fresh as of").
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, Workspace


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
