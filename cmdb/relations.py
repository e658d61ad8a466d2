"""The release process's rows that point at the CMDB, reached through the
relations it declares on the CMDB's models (``ReleaseScopeItem.ci``,
``Baseline.release``): the CMDB never imports ``releases``, the release
process depends on the CMDB."""
from __future__ import annotations

from .models import Baseline, ConfigurationItem


def scope_item_model():
    """The model of a release's scope items (which CIs a release changes)."""
    return ConfigurationItem._meta.get_field("release_scope").related_model


def release_model():
    """The model of the releases a baseline is captured for."""
    return Baseline._meta.get_field("release").related_model
