"""Void and Release lock from a coupon's own page: a confirmation page (GET)
and the service call (POST), answered with an admin message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django_fsm import can_proceed

from coupons.models import Coupon
from coupons.services import coupon_release_lock, coupon_void
from couponsite.actors import Actor
from couponsite.errors import ServiceError

if TYPE_CHECKING:
    from coupons.admin import CouponAdmin

# name: (service, title, what the page asks, message on success, the model
# transition it makes: the page offers an action only where that transition
# may start, so that the states allowed are the state machine's own)
COUPON_ACTIONS: dict[str, tuple[Callable[..., Coupon], str, str, str, str]] = {
    "void": (
        coupon_void,
        "Void coupon",
        "Void coupon {code}? It can never be assigned, locked or redeemed again.",
        "Voided coupon {code}.",
        "void",
    ),
    "release_lock": (
        coupon_release_lock,
        "Release lock",
        "Release the lock on coupon {code}? A checkout holding it will have to lock it again.",
        "Released the lock of coupon {code}.",
        "unlock",
    ),
}


def actions_for(coupon: Coupon) -> list[tuple[str, str]]:
    """(name, title) of the page actions that apply to the coupon's state."""
    return [(name, spec[1]) for name, spec in COUPON_ACTIONS.items() if can_proceed(getattr(coupon, spec[4]))]


def coupon_action_view(model_admin: CouponAdmin, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
    coupon = model_admin.get_object(request, object_id)
    if coupon is None:
        raise Http404("No such coupon")
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    service, title, question, done, _ = COUPON_ACTIONS[action]
    coupon_url = reverse("admin:coupons_coupon_change", args=[coupon.pk])
    if request.method == "POST":
        try:
            service(coupon=coupon, actor=Actor.staff(request.user.pk))
        except ServiceError as error:
            messages.error(request, f"{coupon.code}: {error.detail}")
        else:
            messages.success(request, done.format(code=coupon.code))
        return HttpResponseRedirect(coupon_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Coupon._meta,
        "object": coupon,
        "coupon_url": coupon_url,
        "title": title,
        "question": question.format(code=coupon.code),
        "submit_label": title,
    }
    return TemplateResponse(request, "admin/coupons/coupon/action_confirmation.html", context)
