"""Two groups carry the model permissions staff users need; which rows they see is scoped by Membership.

- "Owners": edit their business's settings and phone numbers, work leads (add, change, delete), read calls,
  transcripts, timelines and recordings.
- "Sales staff": see the business settings, work leads (add, change), read calls, transcripts, timelines
  and recordings.
Adding a membership in the admin puts its user in the matching group (crm.admin_business.sync_staff_groups).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

READ = ["view"]
GROUPS = {
    "Owners": {
        "business": ["view", "change"],
        "phonenumber": ["view", "add", "change", "delete"],
        "membership": READ,
        "lead": ["view", "add", "change", "delete"],
        "call": READ,
        "utterance": READ,
        "callevent": READ,
        "recording": READ,
    },
    "Sales staff": {
        "business": READ,
        "phonenumber": READ,
        "membership": READ,
        "lead": ["view", "add", "change"],
        "call": READ,
        "utterance": READ,
        "callevent": READ,
        "recording": READ,
    },
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    crm_config = apps.get_app_config("crm")
    crm_config.models_module = True
    create_permissions(crm_config, apps=apps, verbosity=0)
    crm_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, models in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        codenames = [f"{action}_{model}" for model, actions in models.items() for action in actions]
        permissions = Permission.objects.filter(content_type__app_label="crm", codename__in=codenames)
        group.permissions.set(permissions)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_default_business"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
