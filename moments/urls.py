from django.urls import path

from moments import views

app_name = "moments"

urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("posts/new/", views.post_create, name="post_create"),
    path("posts/preview/", views.post_preview, name="post_preview"),
    path("posts/<int:pk>/", views.post_detail, name="post_detail"),
    path("posts/<int:pk>/edit/", views.post_edit, name="post_edit"),
    path("posts/<int:pk>/move/", views.post_move, name="post_move"),
    path("posts/<int:pk>/duplicate/", views.post_duplicate, name="post_duplicate"),
    path("posts/<int:pk>/unschedule/", views.post_unschedule, name="post_unschedule"),
    path("posts/<int:pk>/delete/", views.post_delete, name="post_delete"),
    path("posts/<int:pk>/cover/", views.post_cover, name="post_cover"),
    path("posts/<int:pk>/images/<int:image_pk>/<str:size>/", views.post_image, name="post_image"),
    path("posts/<int:pk>/contacts/", views.engagement_candidates, name="engagement_candidates"),
    path("posts/<int:pk>/engagements/", views.engagement_add, name="engagement_add"),
    path("posts/<int:pk>/engagements/<int:engagement_pk>/remove/", views.engagement_remove, name="engagement_remove"),
    path("publications/<int:pk>/images.zip", views.publication_images, name="publication_images"),
    path("publications/<int:pk>/mark/", views.publication_mark, name="publication_mark"),
]
