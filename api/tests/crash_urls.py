"""The API's routes plus two that fail, to see how a server error looks."""

from django.urls import path

from api.idempotency import idempotent
from api.urls import urlpatterns as api_urlpatterns
from api.views.base import PartnerViewSet
from books.services import book_create


def crash(request):
    raise RuntimeError("a bug")


class CrashAfterEffect(PartnerViewSet):
    @idempotent
    def create(self, request):
        book_create(partner=self.partner, name="half-done")
        raise RuntimeError("a bug after the effect")


urlpatterns = [
    *api_urlpatterns,
    path("api/v1/crash", crash),
    path("api/v1/crash-after-effect", CrashAfterEffect.as_view({"post": "create"})),
]
