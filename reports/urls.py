from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("refresh/", views.refresh, name="refresh"),
    path("export/<slug:table>.<slug:extension>", views.export, name="export"),
    path("rfm/<slug:group>/save-segment/", views.rfm_save_segment, name="rfm_save_segment"),
    path("acquisition/", views.acquisition_report, name="acquisition"),
    path("acquisition/effect/", views.campaign_effect, name="campaign_effect"),
    path("lifecycle/", views.lifecycle_settings, name="lifecycle_settings"),
    path("reorder/", views.reorder_list, name="reorder"),
    path("reorder/follow-up/", views.reorder_follow_up, name="reorder_follow_up"),
]
