"""Two groups carry the model permissions staff users need; which rows they see is scoped by Membership.

- "Owners": edit their business's settings and phone numbers, work leads (add, change, delete), read calls,
  transcripts, timelines and recordings.
- "Sales staff": see the business settings, work leads (add, change), read calls, transcripts, timelines
  and recordings.
Adding a membership in the admin puts its user in the matching group (crm.admin_business.sync_staff_groups).
"""

from __future__ import annotations

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
