"""What a release's history holds beside the release itself: its step
records, its scope and its tasks (those the reader may see: a vendor never
learns of another vendor's tasks through it)."""
from releasemgmt.history import Part

from ..models import RECORD_TYPES, ReleaseScopeItem, Task

RELEASE_HISTORY_PARTS = (
    *(Part(record_type, model, "release") for record_type, model in RECORD_TYPES.items()),
    Part("scope", ReleaseScopeItem, "release"),
    Part("task", Task, "release"),
)
