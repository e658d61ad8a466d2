"""Single sign-on with OpenID Connect: people sign in at the organisation's
identity provider, their roles follow its groups, and a signed decision is
confirmed by signing in there again (see README, "Single sign-on")."""
