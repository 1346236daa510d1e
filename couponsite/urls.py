from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from couponsite.health import Readiness, healthz
from couponsite.metrics import metrics


class SchemaAsJson(RedirectView):
    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return f"{super().get_redirect_url(*args, **kwargs)}?format=json"


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", Readiness.as_view(), name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("api.urls")),
    # The original service's addresses of its docs and schema.
    path("docs", RedirectView.as_view(pattern_name="swagger-ui", permanent=True)),
    path("redoc", RedirectView.as_view(pattern_name="redoc", permanent=True)),
    path("openapi.json", SchemaAsJson.as_view(pattern_name="schema", permanent=True)),
]
