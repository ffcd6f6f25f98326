"""My messages: what Carnet wrote to the signed-in person, whether or not it went out by e-mail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from carnet.accounts.models import User
from carnet.messaging.selectors import messages_received


@login_required
def messages_page(request: HttpRequest) -> HttpResponse:
    """Return the person's own messages, the newest first, a page at a time."""
    user = request.user
    assert isinstance(user, User)
    page = messages_received(user, page=request.GET.get("page"))
    return render(request, "messaging/messages.html", {"page": page})
