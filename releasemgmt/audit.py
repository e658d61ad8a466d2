"""The audit trail cannot be rewritten: on PostgreSQL every history table
rejects UPDATE and DELETE with a trigger. History rows are only ever added.

Installed after every ``migrate`` (post_migrate), so history tables of models
added later are covered too. TRUNCATE (used only by test tear-down) is not a
row operation and is not affected.
"""
from django.apps import apps
from django.db import connections

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_history_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def history_tables() -> list[str]:
    tables = []
    for model in apps.get_models():
        if model.__name__.startswith("Historical") and hasattr(model, "history_id"):
            tables.append(model._meta.db_table)
        elif getattr(model, "append_only", False):
            tables.append(model._meta.db_table)
    return sorted(set(tables))


def install_history_triggers(using: str = "default", **kwargs) -> int:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return 0
    existing = set(connection.introspection.table_names())
    tables = [t for t in history_tables() if t in existing]
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        for table in tables:
            name = connection.ops.quote_name(table)
            cursor.execute(f"DROP TRIGGER IF EXISTS history_append_only ON {name}")
            cursor.execute(f"CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON {name} "
                           f"FOR EACH ROW EXECUTE FUNCTION audit_history_is_append_only()")
    return len(tables)
