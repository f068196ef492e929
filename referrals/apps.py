from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        from crm import attribution, events
        from referrals import qualification, services, tasks

        # The contact form's referral code, and the recent scans it suggests.
        attribution.register_attribution(services.CodeAttribution())
        # Invites follow what happens to their invitees in the book (listeners run after the commit).
        events.on(events.ORDER_PLACED, qualification.orders_placed_listener)
        events.on(events.ORDER_REFUNDED, tasks.order_refunded_listener)
        events.on(events.FRIEND_DELETED, tasks.friends_deleted_listener)
        # "Every customer who asks": a reply that is a campaign's keyword enrols the customer.
        events.on(events.REPLIED, tasks.replied_listener)
