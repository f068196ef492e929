"""The Django admin for referral campaigns, scoped like crm's and read-only: campaigns change through their pages,
whose services keep rewards exactly once."""

from django.contrib import admin

from crm.admin import WorkspaceScopedAdmin
from referrals.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "status", "starts_at", "ends_at"]
    list_filter = ["status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
