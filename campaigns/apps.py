from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns import sequences, services
        from crm import wechat

        # Outcomes that arrive after the send (a card of the send-today queue marked sent or skipped).
        wechat.on_results(services.deliveries_report)
        wechat.on_results(sequences.runs_report)
        # Sequences start and stop on what happens in the customer book.
        sequences.listen()
