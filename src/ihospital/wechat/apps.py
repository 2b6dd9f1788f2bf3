from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WeChatConfig(AppConfig):
    name = "ihospital.wechat"
    label = "wechat"
    verbose_name = _("WeChat Official Account")

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
