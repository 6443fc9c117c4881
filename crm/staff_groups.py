"""Two groups carry the model permissions staff users need; which rows they see is scoped by Membership.

- "Owners": edit their business's settings and phone numbers, work leads (add, change, delete), read calls,
  transcripts, timelines and recordings.
- "Sales staff": see the business settings, work leads (add, change), read calls, transcripts, timelines
  and recordings.
Adding a membership in the admin puts its user in the matching group (``sync_staff_groups``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from crm.models import Membership

OWNERS_GROUP = "Owners"
STAFF_GROUP = "Sales staff"

READ = ["view"]
GROUPS: dict[str, dict[str, list[str]]] = {
    OWNERS_GROUP: {
        "business": ["view", "change"],
        "phonenumber": ["view", "add", "change", "delete"],
        "membership": READ,
        "lead": ["view", "add", "change", "delete"],
        "call": READ,
        "utterance": READ,
        "callevent": READ,
        "recording": READ,
    },
    STAFF_GROUP: {
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


def ensure_staff_groups(group_model, permission_model) -> None:
    """Create or update both groups with their crm permissions. Takes the models so that the data migration
    (historical models) and test set-up (after a database flush) share it."""
    for name, models in GROUPS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        codenames = [f"{action}_{model}" for model, actions in models.items() for action in actions]
        group.permissions.set(permission_model.objects.filter(content_type__app_label="crm", codename__in=codenames))


def sync_staff_groups(user: Any) -> None:
    """A member can log in to the admin, with the permissions of their strongest role anywhere."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    groups = {g.name: g for g in Group.objects.filter(name__in=[OWNERS_GROUP, STAFF_GROUP])}
    for role, name in ((Membership.Role.OWNER, OWNERS_GROUP), (Membership.Role.STAFF, STAFF_GROUP)):
        if name in groups:
            if role in roles:
                user.groups.add(groups[name])
            else:
                user.groups.remove(groups[name])
    if roles and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
