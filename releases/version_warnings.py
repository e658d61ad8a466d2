"""What a release's target versions run into, said before planning and
scheduling (``Spec.warnings`` of ``submit_plan`` and ``schedule``): never a
blocker, as the contract's guards do not name them (release-flow.md); the
user reads them beside the step and in the API's transition list."""
from releasemgmt.workflow import Blocker

from .conflicts import version_clashes


def version_warnings(release) -> list[Blocker]:
    """A target version older than the one the CMDB holds (the release would
    deploy a downgrade), and a CI another open release also changes (the
    second to close decides the version the CMDB ends with)."""
    downgrades, shared = version_clashes(release)
    out = [Blocker("older_than_cmdb",
                   f"{item.ci.name}: the CMDB holds {item.ci.version}; this release would deploy {item.target_version}, "
                   f"an older version.") for item in downgrades]
    for item, other in shared:
        to = f" (to {other.target_version})" if other.target_version else ""
        out.append(Blocker("version_also_changed",
                           f"{other.release.number} {other.release.title} also changes {item.ci.name}{to}.",
                           about=("releases.Release", other.release_id),
                           unseen=f"Another open release also changes {item.ci.name}."))
    return out
