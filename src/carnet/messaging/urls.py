"""The person's message pages, under their account."""

from django.urls import path

from carnet.messaging import views

app_name = "messaging"
urlpatterns = [
    path("account/messages/", views.messages_page, name="messages"),
]
