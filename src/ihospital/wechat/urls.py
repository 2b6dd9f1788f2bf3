from django.urls import path

from . import views

app_name = "wechat"
urlpatterns = [
    path("callback/", views.callback, name="callback"),
    path("oauth/start/", views.oauth_start, name="oauth_start"),
    path("oauth/callback/", views.oauth_callback, name="oauth_callback"),
    path("bind/", views.bind, name="bind"),
    path("binding/", views.binding, name="binding"),
    path("binding/unbind/", views.unbind, name="unbind"),
    path("menu/", views.menu_page, name="menu"),
]
