"""Full-text indexes for the calls inbox's search in what was said (PostgreSQL only).

The search (``backoffice/call_inbox.py``) filters on ``SearchVector(<field>, config="simple")``, which Django
writes as ``to_tsvector('simple'::regconfig, COALESCE(<column>, ''))``. A GIN index on exactly that expression
lets PostgreSQL find the matching rows instead of building a vector for every row of the user's calls on each
search. SQLite's search is a substring match with no such index, so there this migration does nothing. The
indexes are not declared on the models (a GIN index cannot be created on SQLite); the expression must stay the
one the search uses (tests/backoffice/test_call_inbox.py checks the plan).
"""

from django.db import migrations

INDEXES = (
    ("crm_utterance_text_fts", "crm_utterance", "text"),
    ("crm_recording_transcript_fts", "crm_recording", "transcript"),
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        # CONCURRENTLY: the tables keep taking a live call's rows while the index is built. A build that
        # failed halfway leaves an invalid index of that name, which IF NOT EXISTS would keep: drop it first.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY {name} ON {table} "
            f"USING gin (to_tsvector('simple'::regconfig, COALESCE({column}, '')))"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("crm", "0011_recording_source_choices")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, atomic=False)]
