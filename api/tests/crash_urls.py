"""The API's routes plus one that fails, to see how a server error looks."""

from django.urls import path

from api.urls import urlpatterns as api_urlpatterns


def crash(request):
    raise RuntimeError("a bug")


urlpatterns = [*api_urlpatterns, path("api/v1/crash", crash)]
