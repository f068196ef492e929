"""The Django admin for broadcasts, scoped like crm's: a superuser sees every workspace, any other admin user only
the workspaces they own. Broadcasts are read-only here: they are composed, sent and stopped through their pages,
whose services check the audience and keep every recipient's delivery exactly once."""

from django.contrib import admin

from campaigns.models import Broadcast, MessagingSettings
from crm.admin import WorkspaceScopedAdmin


@admin.register(Broadcast)
class BroadcastAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "status", "scheduled_at", "started_at", "finished_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    raw_id_fields = ["workspace", "created_by"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(WorkspaceScopedAdmin):
    list_display = ["workspace", "quiet_start", "quiet_end", "daily_cap", "monthly_cap"]
    raw_id_fields = ["workspace"]
