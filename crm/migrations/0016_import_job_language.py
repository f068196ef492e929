"""An import job remembers its member's language, which the worker writes the rows' reasons in."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0015_actors_indexed_where_set'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='language',
            field=models.CharField(blank=True, max_length=10),
        ),
    ]
