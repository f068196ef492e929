"""The Django admin, for the people who run Siyu. A superuser sees every workspace; any other admin user sees only
the workspaces they own, so the admin never becomes a way around tenant isolation."""

from django.contrib import admin

from crm.models import Contact, CustomerGroup, ExportJob, Member, Order, Tag, TagGroup, WeChatAccount, Workspace


class WorkspaceScopedAdmin(admin.ModelAdmin):
    workspace_path = "workspace"

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        owned = Member.objects.filter(user=request.user, role=Member.Role.OWNER).values("workspace_id")
        return rows.filter(**{f"{self.workspace_path}__in": owned})


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    workspace_path = "pk"
    list_display = ["name", "slug", "time_zone", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Member)
class MemberAdmin(WorkspaceScopedAdmin):
    list_display = ["user", "workspace", "role", "limited_to_assigned_accounts"]
    list_filter = ["role"]
    raw_id_fields = ["user", "workspace"]


@admin.register(WeChatAccount)
class WeChatAccountAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "wechat_id", "capacity"]
    raw_id_fields = ["workspace"]


@admin.register(Contact)
class ContactAdmin(WorkspaceScopedAdmin):
    list_display = ["display_name", "workspace", "owner_account", "stage", "source", "added_at"]
    search_fields = ["remark_name", "nickname", "wechat_id", "phone"]
    raw_id_fields = ["workspace", "owner_account"]
    show_full_result_count = False  # no COUNT(*) over a million rows on every admin page


@admin.register(Tag)
class TagAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "group"]
    raw_id_fields = ["workspace", "group"]


@admin.register(TagGroup)
class TagGroupAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "exclusive"]
    raw_id_fields = ["workspace"]


@admin.register(CustomerGroup)
class CustomerGroupAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "owner_account"]
    raw_id_fields = ["workspace", "owner_account"]


@admin.register(Order)
class OrderAdmin(WorkspaceScopedAdmin):
    list_display = ["contact", "workspace", "amount", "channel", "placed_at"]
    raw_id_fields = ["workspace", "contact", "created_by"]
    show_full_result_count = False


@admin.register(ExportJob)
class ExportJobAdmin(WorkspaceScopedAdmin):
    """Read-only: a job is made by an export and run by Celery. The file is left out (it has no public URL; the
    export's page downloads it after checking the workspace)."""

    list_display = ["file_name", "workspace", "requested_by", "format", "status", "rows_done", "rows_total", "created_at"]
    list_filter = ["status", "format"]
    exclude = ["file"]
    raw_id_fields = ["workspace", "requested_by", "segment"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
