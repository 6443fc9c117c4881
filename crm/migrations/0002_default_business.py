"""A fresh install answers calls out of the box: one default business with Hebrew defaults."""

from django.db import migrations


def create_default_business(apps, schema_editor):
    Business = apps.get_model("crm", "Business")
    if not Business.objects.filter(is_default=True).exists():
        Business.objects.create(is_default=True)


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunPython(create_default_business, migrations.RunPython.noop)]
