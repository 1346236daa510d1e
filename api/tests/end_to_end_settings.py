"""Production settings for the end-to-end test (``test_end_to_end.py``), read
and checked exactly as production reads them, with two departures about this
machine, not about the service."""

import os
from pathlib import Path

from couponsite.settings import *  # noqa: F403

# Webhooks go to the test's receiver on 127.0.0.1. Production refuses
# loopback and http:// URLs (no SSRF: webhooks/url_policy.py) and refuses to
# start with WEBHOOK_ALLOW_LOOPBACK=true in its environment
# (couponsite/settings.py), so the setting cannot come from the environment
# here: it is switched on after production's settings were read and checked.
WEBHOOK_ALLOW_LOOPBACK = True
# collectstatic writes into the test's temporary folder, not the checkout's
# staticfiles/; WhiteNoise serves them from there.
STATIC_ROOT = Path(os.environ["END_TO_END_STATIC_ROOT"])
