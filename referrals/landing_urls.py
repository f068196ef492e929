from django.urls import path

from referrals import landing

app_name = "referral_landing"

urlpatterns = [
    path("<str:code>", landing.landing, name="landing"),
    path("<str:code>/wechat.png", landing.landing_wechat_qr, name="wechat_qr"),
]
