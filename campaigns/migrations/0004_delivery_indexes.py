"""No single-column foreign-key indexes on deliveries (each status change of a row rewrites all its indexes), and no
database constraint on their workspace and account (checked row by row at the commit of a start): see Delivery."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0003_messaging_ad_words'),
        ('crm', '0008_moment_timeline_kinds'),
    ]

    operations = [
        migrations.AlterField(
            model_name='delivery',
            name='broadcast',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='campaigns.broadcast'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='crm.contact'),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="crm.workspace",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="account",
            field=models.ForeignKey(
                blank=True, db_constraint=False, db_index=False, null=True,
                on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="crm.wechataccount",
            ),
        ),
    ]
