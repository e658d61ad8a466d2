"""The dashboard."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..selectors import dashboard


@login_required
def dashboard_view(request):
    return render(request, "releases/dashboard.html", dashboard(request.user))
