"""Coupons and their events in the admin, and the code actions of the book page."""

from coupons.admin import book_codes, coupon_pages, events

__all__ = ["book_codes", "coupon_pages", "events"]
