"""A contact's keys (phone, WeChat ID, external ID, union ID) are indexed only where the contact has one: most have
no union ID, many no phone or external ID, and an empty key was an index entry written with every new contact and
never read (no lookup asks for an empty key). An import of 100,000 contacts wrote 213,000 such entries.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0013_contact_workspace_checked_by_django'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_ws_phone',
        ),
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_ws_wechat_id',
        ),
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_ws_external_id',
        ),
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_ws_union_id',
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('phone', ''), _negated=True), fields=['workspace', 'phone'], name='contact_ws_phone'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('wechat_id', ''), _negated=True), fields=['workspace', 'wechat_id'], name='contact_ws_wechat_id'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('external_id', ''), _negated=True), fields=['workspace', 'external_id'], name='contact_ws_external_id'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('union_id', ''), _negated=True), fields=['workspace', 'union_id'], name='contact_ws_union_id'),
        ),
    ]
