"""bench/peers/common.py's paths."""

from django.urls import path

from . import views


urlpatterns = [
    path("noop", views.plain),
    path("commit", views.commit),
    path("start", views.start),
    path("status", views.status),
    path("result", views.result),
]
