"""The page where a person chooses how they hear of work landing in their
queue: at once, or once a day in a digest."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render

from releasemgmt.ui import role_required

from .models import QueueDelivery, QueuePreference


class QueuePreferenceForm(forms.Form):
    delivery = forms.ChoiceField(choices=QueueDelivery.choices, widget=forms.RadioSelect,
                                 label="Tell me that work waits on me")


def set_queue_delivery(user, delivery: str) -> QueuePreference:
    """Keep ``user``'s choice; items already noted keep the way they were told."""
    pref, _ = QueuePreference.objects.update_or_create(user=user, defaults={"delivery": delivery})
    return pref


@role_required
def queue_preference_view(request):
    current = QueuePreference.objects.filter(user=request.user).values_list("delivery", flat=True).first()
    form = QueuePreferenceForm(request.POST or None, initial={"delivery": current or QueueDelivery.IMMEDIATE})
    if request.method == "POST":
        if form.is_valid():
            pref = set_queue_delivery(request.user, form.cleaned_data["delivery"])
            messages.success(request, f"You will be told: {pref.get_delivery_display().lower()}.")
            return redirect("queue-preference")
        return render(request, "notifications/queue_preference.html", {"form": form}, status=400)
    return render(request, "notifications/queue_preference.html", {"form": form})
