from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm.views import accounts, contacts, groups, imports, members, status, tags
from crm.views import duplicates as duplicate_views
from crm.views import exports as export_views
from crm.views import segments as segment_views

app_patterns = [
    path("", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/bulk-tag/", contacts.contact_bulk_tag, name="contact_bulk_tag"),
    path("contacts/export.csv", export_views.contact_export_csv, name="contact_export_csv"),
    path("contacts/export.xlsx", export_views.contact_export_xlsx, name="contact_export_xlsx"),
    path("contacts/<int:pk>/duplicates/", duplicate_views.contact_duplicates, name="contact_duplicates"),
    path("duplicates/", duplicate_views.duplicate_list, name="duplicate_list"),
    path("duplicates/merge/", duplicate_views.duplicate_merge, name="duplicate_merge"),
    path("merges/<int:pk>/undo/", duplicate_views.contact_merge_undo, name="contact_merge_undo"),
    path("contacts/<int:pk>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/remark/", contacts.contact_remark, name="contact_remark"),
    path("contacts/<int:pk>/tags/", contacts.contact_tags, name="contact_tags"),
    path("contacts/<int:pk>/timeline/", contacts.contact_timeline, name="contact_timeline"),
    path("contacts/<int:pk>/notes/", contacts.contact_note_add, name="contact_note_add"),
    path("contacts/<int:pk>/avatar/", contacts.contact_avatar, name="contact_avatar"),
    path("contacts/<int:pk>/avatar.jpg", contacts.contact_avatar_image, name="contact_avatar_image"),
    path("contacts/<int:pk>/orders/", contacts.order_create, name="order_create"),
    path("contacts/<int:pk>/orders/<int:order_pk>/delete/", contacts.order_delete, name="order_delete"),
    path("segments/", segment_views.segment_list, name="segment_list"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/builder/", segment_views.segment_builder, name="segment_builder"),
    path("segments/<int:pk>/", segment_views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", segment_views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/builder/", segment_views.segment_builder, name="segment_builder_edit"),
    path("segments/<int:pk>/delete/", segment_views.segment_delete, name="segment_delete"),
    path("tags/", tags.tag_list, name="tag_list"),
    path("tags/new/", tags.tag_create, name="tag_create"),
    path("tags/<int:pk>/edit/", tags.tag_edit, name="tag_edit"),
    path("tags/<int:pk>/merge/", tags.tag_merge, name="tag_merge"),
    path("tags/<int:pk>/delete/", tags.tag_delete, name="tag_delete"),
    path("tag-groups/new/", tags.tag_group_create, name="tag_group_create"),
    path("tag-groups/<int:pk>/edit/", tags.tag_group_edit, name="tag_group_edit"),
    path("tag-groups/<int:pk>/delete/", tags.tag_group_delete, name="tag_group_delete"),
    path("groups/", groups.group_list, name="group_list"),
    path("groups/new/", groups.group_create, name="group_create"),
    path("groups/<int:pk>/", groups.group_detail, name="group_detail"),
    path("groups/<int:pk>/edit/", groups.group_edit, name="group_edit"),
    path("groups/<int:pk>/delete/", groups.group_delete, name="group_delete"),
    path("groups/<int:pk>/members/add/", groups.group_members_add, name="group_members_add"),
    path("groups/<int:pk>/members/<int:contact_pk>/remove/", groups.group_member_remove, name="group_member_remove"),
    path("accounts/", accounts.account_list, name="account_list"),
    path("accounts/new/", accounts.account_create, name="account_create"),
    path("accounts/<int:pk>/edit/", accounts.account_edit, name="account_edit"),
    path("imports/", imports.import_list, name="import_list"),
    path("imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/status/", imports.import_status, name="import_status"),
    path("imports/<int:pk>/resume/", imports.import_resume, name="import_resume"),
    path("imports/<int:pk>/rejects.csv", imports.import_rejects, name="import_rejects"),
    path("members/", members.member_list, name="member_list"),
    path("members/new/", members.member_add, name="member_add"),
    path("members/<int:pk>/edit/", members.member_edit, name="member_edit"),
    path("members/<int:pk>/remove/", members.member_remove, name="member_remove"),
    path("workspace/switch/", members.workspace_switch, name="workspace_switch"),
    path("status/", status.status, name="status"),
]

urlpatterns = [
    path("", include((app_patterns, "crm"))),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
