from django.contrib import admin
from django.urls import include, path

from couponsite.health import Readiness, healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", Readiness.as_view(), name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("api.urls")),
]
