"""The roles of the release process, as the groups a user is put in: the
workflow declares who may perform a transition by these names, and
``releasemgmt.authz`` reads a user's roles (and what they may read) by them."""

ROLES = (
    "release_manager",
    "change_manager",
    "cab_member",
    "delivery_manager",
    "build_team",
    "test_team",
    "deployment_team",
    "configuration_manager",
    "vendor",
    "stakeholder",
)
