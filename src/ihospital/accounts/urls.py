from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/otp/", views.login_otp, name="login_otp"),
    path("login/enrol/", views.login_enrol, name="login_enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("register/", views.register, name="register"),
    path("proxies/", views.proxies, name="proxies"),
    path("proxies/invite/", views.proxy_invite, name="proxy_invite"),
    path("proxies/request/", views.proxy_request, name="proxy_request"),
    path("proxies/<int:proxy_id>/approve/", views.proxy_approve, name="proxy_approve"),
    path("proxies/<int:proxy_id>/decline/", views.proxy_decline, name="proxy_decline"),
    path("proxies/<int:proxy_id>/revoke/", views.proxy_revoke, name="proxy_revoke"),
    path("consents/", views.consents, name="consents"),
    path("consents/<int:consent_id>/withdraw/", views.consent_withdraw, name="consent_withdraw"),
    path("act-for/", views.act_for, name="act_for"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/language/", views.set_language, name="set_language"),
    path("preferences/elder-mode/", views.set_elder_mode, name="set_elder_mode"),
]
