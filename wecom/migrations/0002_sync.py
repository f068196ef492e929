from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("wecom", "0001_initial")]

    operations = []
