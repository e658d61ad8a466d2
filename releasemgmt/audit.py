"""The audit trail cannot be rewritten: on PostgreSQL every append-only table
rejects UPDATE and DELETE with a trigger. Rows are only ever added.

Append-only tables are the history tables of django-simple-history and the
tables of models that declare ``append_only = True`` (the transition log,
refused attempts, and whatever model says so later): ``history_tables()``.

The triggers are installed after every ``migrate`` (``install_after_migrate``,
connected to ``post_migrate`` by the releases app), whatever the settings, so
the tables of models added later are covered too. A deploy check
(``manage.py check --deploy``) reports any append-only table of a PostgreSQL
database that exists without its trigger, so a database migrated some other
way is caught before it serves. TRUNCATE (used only by test tear-down) is not
a row operation and is not affected.
"""
from django.apps import apps
from django.core import checks
from django.db import DatabaseError, connections
from simple_history.models import HistoricalChanges

TRIGGER = "history_append_only"
FUNCTION_NAME = "audit_history_is_append_only"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION_NAME}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

# pg_trigger.tgtype bits: a row-level (1) BEFORE (2) trigger on DELETE (8)
# and UPDATE (16).
_ROW_BEFORE_UPDATE_DELETE = 1 | 2 | 8 | 16


def append_only_models() -> list:
    """Every model whose rows are only ever added: the historical models of
    django-simple-history (their many-to-many history included) and any
    model that declares ``append_only = True``."""
    return [model for model in apps.get_models()
            if issubclass(model, HistoricalChanges) or getattr(model, "append_only", False) is True]


def history_tables() -> list[str]:
    """The tables of ``append_only_models()``."""
    return sorted({model._meta.db_table for model in append_only_models()})


def install_history_triggers(using: str = "default", **kwargs) -> int:
    """(Re)create the trigger on every append-only table that exists in the
    database ``using``; the number of tables guarded. Does nothing but on
    PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return 0
    existing = set(connection.introspection.table_names())
    tables = [t for t in history_tables() if t in existing]
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        for table in tables:
            name = connection.ops.quote_name(table)
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {name}")
            cursor.execute(f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {name} "
                           f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION_NAME}()")
    return len(tables)


def install_after_migrate(sender, using="default", **kwargs):
    """The ``post_migrate`` receiver. A module-level function, connected with
    ``weak=False``: a receiver defined inside ``ready()`` and held weakly is
    collected as soon as ``ready()`` returns, and only DEBUG's signature
    cache used to keep it alive, so a production ``migrate`` installed no
    trigger."""
    install_history_triggers(using=using)


def unguarded_tables(using: str = "default") -> list[str]:
    """Append-only tables of the database ``using`` that exist without an
    enabled row-level BEFORE UPDATE OR DELETE trigger calling the refusing
    function. Empty but on PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        # tgenabled: 'O' fires in the normal replication role, 'A' always;
        # 'D' (disabled) and 'R' (replica only) do not guard the table.
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgname = %s AND p.proname = %s AND t.tgenabled IN ('O', 'A') "
            "AND t.tgtype & %s = %s AND pg_table_is_visible(c.oid)",
            [TRIGGER, FUNCTION_NAME, _ROW_BEFORE_UPDATE_DELETE, _ROW_BEFORE_UPDATE_DELETE])
        guarded = {row[0] for row in cursor.fetchall()}
    return [t for t in history_tables() if t in existing and t not in guarded]


def check_append_only(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """Deploy check: every append-only table of each PostgreSQL database has
    its trigger. ``check --deploy`` passes no database, so it checks
    ``default``; a database it cannot read is reported, not passed over."""
    messages = []
    for alias in databases or ["default"]:
        if connections[alias].vendor != "postgresql":
            continue
        try:
            missing = unguarded_tables(alias)
        except DatabaseError as exc:
            messages.append(checks.Warning(
                f"Could not verify that history is append-only in database '{alias}': {exc}",
                hint="Run `manage.py check --deploy` where the application's database is reachable.",
                id="releasemgmt.W001"))
            continue
        if missing:
            messages.append(checks.Error(
                f"History is not append-only in database '{alias}': {len(missing)} table(s) accept "
                f"UPDATE and DELETE: {', '.join(missing)}.",
                hint="Run `manage.py migrate`: it installs the triggers after every run.",
                id="releasemgmt.E001"))
    return messages
