from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MomentsConfig(AppConfig):
    name = "moments"
    verbose_name = _("Moments")

    def ready(self):
        from crm import queue_sections
        from moments import queue

        # The posts a staff member publishes by hand appear in the send-today queue.
        queue_sections.register_queue_section(queue.MomentsQueue())
