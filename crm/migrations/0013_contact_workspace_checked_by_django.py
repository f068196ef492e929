"""A contact's workspace keeps no database constraint, as the timeline event's does not (migration 0011): the code
that creates a contact names a workspace it has just loaded, and only Django deletes a workspace, deleting its
contacts first. The check was a trigger call per new contact at the commit: an import of 100,000 contacts paid
0.35 s of the server's time for it. The tag link's contact keeps its constraint (see the models).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0012_foreign_keys_checked_by_django'),
    ]

    operations = [
        migrations.AlterField(
            model_name='contact',
            name='workspace',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contacts', to='crm.workspace'),
        ),
    ]
