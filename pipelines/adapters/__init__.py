"""Adapters for the pipelines people use: GitHub's custom deployment
protection rules (``github``) and GitLab's deployment approvals and events
(``gitlab``), on what they share (``common``): the mapping of a platform's
deployment to a release, the replay ledger, and the checks answered with the
gate's decision, at once or once the gate stops saying ``awaiting``.

Nothing here moves a release: the decision is ``pipelines.gate.decide``'s,
and a deployment reported by GitLab is started and finished by
``pipelines.services`` (the release's own transitions), so it is in the
history, the audit export and the metrics like any other step.
"""
