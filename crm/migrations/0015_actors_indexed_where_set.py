"""Who entered an order and who did what a timeline event records: indexed only where set, and with no database
constraint. Imports from the command line and automation set neither, yet each of their rows was an index entry
(NULLs included) and a trigger call at the commit: 200,000 of each for an import of 100,000 contacts and one of
100,000 orders. The index serves what reads the column: Django's delete of a user, which clears it (on_delete).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0014_contact_keys_indexed_where_set'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='order',
            name='created_by',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='timelineevent',
            name='actor',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('created_by__isnull', False)), fields=['created_by'], name='order_created_by'),
        ),
        migrations.AddIndex(
            model_name='timelineevent',
            index=models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='timeline_actor'),
        ),
    ]
