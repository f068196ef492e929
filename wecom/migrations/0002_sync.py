import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0010_stage_changed_kind"),
        ("wecom", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SyncState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("tags", "Corp tags"), ("contacts", "Staff and customers"), ("groups", "Customer groups")], max_length=10)),
                ("status", models.CharField(choices=[("idle", "Never run"), ("running", "Running"), ("done", "Done"), ("failed", "Stopped (continues at the next sync)")], default="idle", max_length=10)),
                ("run", models.PositiveIntegerField(default=0)),
                ("cursor", models.JSONField(blank=True, default=dict)),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("last_error", models.TextField(blank=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("workspace", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="wecom_sync_states", to="crm.workspace")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("workspace", "kind"), name="wecom_sync_state_unique_kind")],
            },
        ),
        migrations.CreateModel(
            name="WeComContact",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("userid", models.CharField(max_length=64)),
                ("external_userid", models.CharField(max_length=64)),
                ("remark", models.CharField(blank=True, max_length=100)),
                ("description", models.TextField(blank=True)),
                ("tag_ids", models.JSONField(blank=True, default=list)),
                ("seen_run", models.PositiveIntegerField(default=0)),
                ("gone_at", models.DateTimeField(blank=True, null=True)),
                ("contact", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="wecom_link", to="crm.contact")),
                ("workspace", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.workspace")),
            ],
            options={
                "indexes": [models.Index(fields=["workspace", "external_userid"], name="wecom_contact_ws_external")],
                "constraints": [models.UniqueConstraint(fields=("workspace", "userid", "external_userid"), name="wecom_contact_unique_follow")],
            },
        ),
        migrations.CreateModel(
            name="WeComTagGroup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("wecom_id", models.CharField(max_length=64)),
                ("group", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.taggroup")),
                ("workspace", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.workspace")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("workspace", "wecom_id"), name="wecom_tag_group_unique_id")],
            },
        ),
        migrations.CreateModel(
            name="WeComTag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("wecom_id", models.CharField(max_length=64)),
                ("gone_at", models.DateTimeField(blank=True, null=True)),
                ("tag", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="wecom_tag", to="crm.tag")),
                ("workspace", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.workspace")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("workspace", "wecom_id"), name="wecom_tag_unique_id")],
            },
        ),
        migrations.CreateModel(
            name="WeComGroupChat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chat_id", models.CharField(max_length=64)),
                ("seen_run", models.PositiveIntegerField(default=0)),
                ("gone_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("group", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="wecom_chat", to="crm.customergroup")),
                ("workspace", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.workspace")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("workspace", "chat_id"), name="wecom_group_chat_unique_id")],
            },
        ),
    ]
