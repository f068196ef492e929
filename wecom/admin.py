from django.contrib import admin

from wecom.models import CallbackEvent, MassSend


@admin.register(CallbackEvent)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = ["workspace", "event", "change_type", "status", "received_at", "processed_at"]
    list_filter = ["status", "event"]
    readonly_fields = [field.name for field in CallbackEvent._meta.fields]


@admin.register(MassSend)
class MassSendAdmin(admin.ModelAdmin):
    list_display = ["workspace", "account", "sender", "status", "msgid", "created_at"]
    readonly_fields = [field.name for field in MassSend._meta.fields]
