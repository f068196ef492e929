from django.urls import path

from wecom import views

app_name = "wecom"

urlpatterns = [
    path("settings/", views.wecom_settings, name="settings"),
    path("settings/check/", views.wecom_settings_check, name="settings_check"),
    # Public: WeCom calls it. The key in the path names the workspace and cannot be guessed.
    path("callback/<str:key>/", views.callback, name="callback"),
]
