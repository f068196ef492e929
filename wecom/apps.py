from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WeComConfig(AppConfig):
    name = "wecom"
    label = "wecom"
    verbose_name = _("WeCom (企业微信)")

    def ready(self):
        from wecom import channel  # noqa: F401  (registers the "wecom" channel of crm.wechat)
        from wecom import sync_push

        sync_push.listen()  # Siyu's tag and remark changes of WeCom customers go to WeCom
