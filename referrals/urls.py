from django.urls import path

from referrals import views

app_name = "referrals"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_create, name="campaign_create"),
    path("costs/", views.costs, name="costs"),
    path("costs/<int:cost_pk>/delete/", views.cost_delete, name="cost_delete"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("<int:pk>/pause/", views.campaign_pause, name="campaign_pause"),
    path("<int:pk>/participants/", views.participant_list, name="participant_list"),
    path("<int:pk>/participants/enrol/", views.participant_enrol, name="participant_enrol"),
    path("<int:pk>/participants/enrol-segment/", views.participants_enrol_segment, name="participants_enrol_segment"),
    path("<int:pk>/participants/<int:participant_pk>/", views.participant_detail, name="participant_detail"),
    path("<int:pk>/participants/<int:participant_pk>/poster.jpg", views.participant_poster, name="participant_poster"),
    path("<int:pk>/participants/<int:participant_pk>/send-poster/", views.participant_poster_send,
         name="participant_poster_send"),
    path("<int:pk>/rewards/<int:reward_pk>/deliver/", views.reward_deliver, name="reward_deliver"),
    path("<int:pk>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("<int:pk>/tree/", views.tree, name="tree"),
    path("<int:pk>/held/", views.held, name="held"),
    path("<int:pk>/invites/<int:invite_pk>/decide/", views.invite_decide, name="invite_decide"),
    path("<int:pk>/report/", views.report, name="report"),
]
