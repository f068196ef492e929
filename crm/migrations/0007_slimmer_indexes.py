"""Fewer indexes on the big tables, so that imports and syncs write less (crm.models, INDEX_NOTE).

- Single-column foreign-key indexes that a two-column index starting with the same column already serves go.
- contact.referred_by and contact.merged_into are indexed only where they are set (partial indexes).
- On PostgreSQL, the four UPPER(...) trigram indexes of migration 0002 go: pg_trgm folds case when it extracts
  trigrams, so the plain-column indexes serve a case-insensitive ILIKE as well, which the search now uses
  (crm.lookups.TrigramIContains). Five trigram indexes stay instead of nine.
- order_ws_placed carries the contact id, so that "who ordered since" is read from the index alone.
- The outbox (a development channel's log) keeps no foreign-key indexes or constraints (see OutboxMessage).
"""

import django.db.models.deletion
from django.db import migrations, models

from crm.migrations._postgresql import PostgreSQLOnly

UPPER_TRIGRAM = {
    "contact_trgm_nickname_upper": 'UPPER(("nickname")::text)',
    "contact_trgm_remark_upper": 'UPPER(("remark_name")::text)',
    "contact_trgm_wechat_id_upper": 'UPPER(("wechat_id")::text)',
    "contact_trgm_description_upper": 'UPPER("description")',
}


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0006_contact_ws_live_index'),
    ]

    operations = [
        *[
            PostgreSQLOnly(
                f"DROP INDEX IF EXISTS {name}",
                reverse_sql=f'CREATE INDEX IF NOT EXISTS {name} ON "crm_contact" USING gin ({expression} gin_trgm_ops)',
            )
            for name, expression in UPPER_TRIGRAM.items()
        ],
        migrations.AlterField(
            model_name='contact',
            name='merged_into',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='merged_duplicates', to='crm.contact'),
        ),
        migrations.AlterField(
            model_name='contact',
            name='referred_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='referrals', to='crm.contact', verbose_name='referred by'),
        ),
        migrations.AlterField(
            model_name='contact',
            name='workspace',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contacts', to='crm.workspace'),
        ),
        migrations.AlterField(
            model_name='contacttag',
            name='content_object',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='tag_links', to='crm.contact'),
        ),
        migrations.AlterField(
            model_name='contacttag',
            name='tag',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contact_links', to='crm.tag'),
        ),
        migrations.AlterField(
            model_name='groupmembership',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='group_memberships', to='crm.contact'),
        ),
        migrations.AlterField(
            model_name='groupmembership',
            name='group',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='crm.customergroup'),
        ),
        migrations.AlterField(
            model_name='order',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='orders', to='crm.contact'),
        ),
        migrations.AlterField(
            model_name='order',
            name='workspace',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='orders', to='crm.workspace'),
        ),
        migrations.AlterField(
            model_name='timelineevent',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='timeline_events', to='crm.contact'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('referred_by__isnull', False)), fields=['referred_by'], name='contact_referred_by'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('merged_into__isnull', False)), fields=['merged_into'], name='contact_merged_into'),
        ),
        migrations.RemoveIndex(model_name="order", name="order_ws_placed"),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["workspace", "-placed_at"], include=["contact"], name="order_ws_placed"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="crm.workspace",
            ),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="account",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="crm.wechataccount",
            ),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="contact",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="crm.contact",
            ),
        ),
    ]
