"""The staff groups and their permissions (defined in crm/staff_groups.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from crm.staff_groups import GROUPS, ensure_staff_groups


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    crm_config = apps.get_app_config("crm")
    crm_config.models_module = True
    create_permissions(crm_config, apps=apps, verbosity=0)
    crm_config.models_module = None

    ensure_staff_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_default_business"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
