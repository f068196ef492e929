from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("broadcasts/", views.broadcast_list, name="broadcast_list"),
]
