from django.urls import path

from wecom import contact_way_views, views

app_name = "wecom"

urlpatterns = [
    path("settings/", views.wecom_settings, name="settings"),
    path("settings/check/", views.wecom_settings_check, name="settings_check"),
    path("settings/sync/", views.wecom_sync_now, name="sync_now"),
    path("contact-ways/", contact_way_views.contact_way_list, name="contact_ways"),
    path("contact-ways/<int:pk>/", contact_way_views.contact_way_detail, name="contact_way_detail"),
    path("contact-ways/welcome/", contact_way_views.default_welcome, name="default_welcome"),
    path("contact-ways/campaign/<int:campaign_pk>/", contact_way_views.campaign_contact_ways,
         name="campaign_contact_ways"),
    # Public: WeCom calls it. The key in the path names the workspace and cannot be guessed.
    path("callback/<str:key>/", views.callback, name="callback"),
]
