"""What changed between two versions of a plan, word by word."""

from __future__ import annotations

import difflib

from ..models import ReleasePlan


PLAN_FIELDS = ("scope", "deployment_start", "deployment_end", "deployment_approach", "risks", "teams",
               "downtime_expected", "notes")


def plan_diff(old, new) -> list[dict]:
    """Field by field, what changed from plan ``old`` to ``new``: text as word
    runs marked equal / insert / delete, other values as before and after."""
    rows = []
    for name in PLAN_FIELDS:
        model_field = ReleasePlan._meta.get_field(name)
        label = str(model_field.verbose_name).capitalize()
        after = getattr(new, name)
        before = getattr(old, name) if old is not None else None
        changed = old is not None and before != after
        row = {"name": name, "label": label, "before": before, "after": after, "changed": changed,
               "text": isinstance(after, str), "ops": []}
        if changed and isinstance(after, str):
            row["ops"] = word_diff(before or "", after or "")
        rows.append(row)
    return rows


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.split(" "), after.split(" ")
    ops = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("equal", " ".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(("delete", " ".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(("insert", " ".join(b[j1:j2])))
    return ops
