# The marks referral campaigns depend on: a contact who deleted the seller, a refunded order, and their timeline
# events. Both columns are NULL for every existing row, so adding them rewrites no table on PostgreSQL. They are
# analyzed at once: until autovacuum gets to a big table, the planner would take "refunded_at IS NULL" (every valid
# order) for a rare condition and plan reports over a million orders for a few thousand.

from django.db import migrations, models

from crm.migrations._postgresql import PostgreSQLOnly


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0008_moment_timeline_kinds"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="friend_deleted_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="deleted us at"),
        ),
        migrations.AddField(
            model_name="order",
            name="refunded_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="refunded at"),
        ),
        migrations.AlterField(
            model_name="timelineevent",
            name="kind",
            field=models.CharField(choices=[("note", "Note"), ("follow_up", "Follow-up"), ("tag_added", "Tag added"), ("tag_removed", "Tag removed"), ("remark_changed", "Remark changed"), ("group_joined", "Joined a group"), ("group_left", "Left a group"), ("merged", "Duplicate merged in"), ("merge_undone", "Merge undone"), ("imported", "Imported"), ("reply", "Reply"), ("opted_out", "Opted out"), ("opted_in", "Opted in again"), ("message_sent", "Message sent"), ("moment_liked", "Liked a moments post"), ("moment_commented", "Commented on a moments post"), ("friend_deleted", "Deleted us"), ("order_refunded", "Order refunded"), ("referred", "Referred by a friend")], max_length=20),
        ),
        PostgreSQLOnly("ANALYZE crm_order (refunded_at)", reverse_sql=migrations.RunSQL.noop),
        PostgreSQLOnly("ANALYZE crm_contact (friend_deleted_at)", reverse_sql=migrations.RunSQL.noop),
    ]
