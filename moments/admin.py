"""The Django admin for moments posts, scoped like crm's and read-only: posts are planned and published through
their pages, whose services keep each account's publication exactly once."""

from django.contrib import admin

from crm.admin import WorkspaceScopedAdmin
from moments.models import Post


@admin.register(Post)
class PostAdmin(WorkspaceScopedAdmin):
    list_display = ["__str__", "workspace", "status", "scheduled_at", "created_at"]
    list_filter = ["status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
