"""Three foreign keys keep no database constraint: the contact's WeChat account, a tag link's tag and a timeline
event's contact. Django's deletes still cascade or clear them (on_delete runs in Django); what the constraints added
was a trigger call per row, checked at the commit: 390,000 of them in an import of 100,000 contacts, about 1.3 s
of the server's time. The tag link's contact and the contact's workspace keep theirs (see the models).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0011_search_pending_lists'),
    ]

    operations = [
        migrations.AlterField(
            model_name='contact',
            name='owner_account',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='contacts', to='crm.wechataccount', verbose_name='WeChat account'),
        ),
        migrations.AlterField(
            model_name='contacttag',
            name='tag',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contact_links', to='crm.tag'),
        ),
        migrations.AlterField(
            model_name='timelineevent',
            name='contact',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='timeline_events', to='crm.contact'),
        ),
    ]
