"""The front page and the health check; each app's pages come from its own urls.py."""

from django.urls import path

from carnet.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
]
