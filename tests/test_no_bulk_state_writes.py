"""States and audited fields change only through the services: no code of the
project calls ``QuerySet.update()`` or ``bulk_update()``, which would skip the
state machine and the history."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["releasemgmt", "releases", "changes", "cmdb"]


def _receiver_chain(node):
    names = []
    while isinstance(node, (ast.Attribute, ast.Call)):
        if isinstance(node, ast.Call):
            node = node.func
        else:
            names.append(node.attr)
            node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names


def queryset_updates():
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr in ("update", "bulk_update"):
                    chain = _receiver_chain(node.func.value)
                    if node.func.attr == "bulk_update" or {"objects", "filter", "exclude", "all", "history"} & set(chain):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_queryset_update_in_the_project():
    assert queryset_updates() == []


def test_the_scan_finds_a_queryset_update(tmp_path):
    tree = ast.parse("Release.objects.filter(pk=1).update(state='closed')")
    call = tree.body[0].value
    assert call.func.attr == "update" and "objects" in _receiver_chain(call.func.value)
