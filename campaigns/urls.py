from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("broadcasts/", views.broadcast_list, name="broadcast_list"),
    path("broadcasts/new/", views.broadcast_create, name="broadcast_create"),
    path("broadcasts/preview/", views.broadcast_text_preview, name="broadcast_text_preview"),
    path("broadcasts/<int:pk>/", views.broadcast_detail, name="broadcast_detail"),
    path("broadcasts/<int:pk>/edit/", views.broadcast_edit, name="broadcast_edit"),
    path("broadcasts/<int:pk>/send/", views.broadcast_send, name="broadcast_send"),
    path("broadcasts/<int:pk>/pause/", views.broadcast_pause, name="broadcast_pause"),
    path("broadcasts/<int:pk>/resume/", views.broadcast_resume, name="broadcast_resume"),
    path("broadcasts/<int:pk>/cancel/", views.broadcast_cancel, name="broadcast_cancel"),
    path("broadcasts/<int:pk>/unschedule/", views.broadcast_unschedule, name="broadcast_unschedule"),
    path("broadcasts/<int:pk>/images/<int:image_pk>/", views.broadcast_image, name="broadcast_image"),
    path("broadcasts/settings/", views.messaging_settings, name="messaging_settings"),
]

urlpatterns += [
    path("sequences/", views.sequence_list, name="sequence_list"),
    path("sequences/new/", views.sequence_create, name="sequence_create"),
    path("sequences/<int:pk>/", views.sequence_detail, name="sequence_detail"),
    path("sequences/<int:pk>/edit/", views.sequence_edit, name="sequence_edit"),
    path("sequences/<int:pk>/activate/", views.sequence_activate, name="sequence_activate"),
    path("sequences/<int:pk>/deactivate/", views.sequence_deactivate, name="sequence_deactivate"),
    path("sequences/<int:pk>/enrol/", views.sequence_enrol, name="sequence_enrol"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
]
