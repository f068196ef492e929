"""The settings page's sync section, rendered with the page (and alone by the "Sync now" button's htmx answer)."""

from django import template

from wecom import sync

register = template.Library()


@register.inclusion_tag("wecom/_sync_status.html", takes_context=True)
def wecom_sync_status(context):
    request = context["request"]
    return {"sync_rows": sync.sync_rows(workspace=request.workspace), "csrf_token": context.get("csrf_token")}
