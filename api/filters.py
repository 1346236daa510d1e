"""Query parameters of the lists, validated and documented by django-filter;
the selectors apply them (``state`` is the effective state)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from api.fields import TEXT_REGEX, WHOLE_NUMBER
from books.models import Book
from coupons.models import Coupon, CouponState
from couponsite.bounds import ID_MAX, NAME_MAX_LENGTH, USER_ID_MAX_LENGTH


class WholeNumberField(forms.IntegerField):
    """Digits only, as the schema's integer: Django's own field takes ``1.0``,
    `` 5 `` and ``1_0`` as numbers."""

    def to_python(self, value: Any) -> int | None:
        if value not in self.empty_values and not WHOLE_NUMBER.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": ID_MAX})
class IdFilter(django_filters.NumberFilter):
    field_class = WholeNumberField

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=ID_MAX, **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": USER_ID_MAX_LENGTH,
        "pattern": TEXT_REGEX,
        "description": "Only this user's coupons.",
    }
)
class UserIdFilter(django_filters.CharFilter):
    """Empty means every user's; NUL is refused (Django's own check)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=USER_ID_MAX_LENGTH, **kwargs)


@extend_schema_field({"type": "boolean"})
class TrueOrFalseFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false`` and nothing else: django-filter's BooleanFilter
    reads any other value as no filter at all."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true", **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": NAME_MAX_LENGTH,
        "pattern": TEXT_REGEX,
        "description": "Books whose name contains this, in any case.",
    }
)
class NameFilter(django_filters.CharFilter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=NAME_MAX_LENGTH, **kwargs)


class BookFilter(django_filters.FilterSet):
    name = NameFilter()
    is_active = TrueOrFalseFilter(help_text="Only active (`true`) or inactive (`false`) books.")

    class Meta:
        model = Book
        fields: list[str] = []


class BookCouponFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=CouponState.choices, help_text="As partners see it: an expired lock is assigned."
    )
    user_id = UserIdFilter()

    class Meta:
        model = Coupon
        fields: list[str] = []


class UserCouponFilter(django_filters.FilterSet):
    book_id = IdFilter(help_text="Only this book's coupons.")
    state = django_filters.ChoiceFilter(
        choices=CouponState.choices, help_text="As partners see it: an expired lock is assigned."
    )

    class Meta:
        model = Coupon
        fields: list[str] = []


def filter_values(filterset_class: type[django_filters.FilterSet], request: Any) -> dict[str, Any]:
    """The cleaned query parameters, empty ones as None; a 400 when invalid."""
    queryset = filterset_class._meta.model.objects.none()
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return {name: value if value not in ("", None) else None for name, value in filterset.form.cleaned_data.items()}


class SelectorFilterBackend(DjangoFilterBackend):
    """Documents the view's filterset; the view's selector has applied it."""

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        return queryset
