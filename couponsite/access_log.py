"""gunicorn's access log without credentials: a key sent in a query string by
mistake must not land in the logs (``logger_class`` in gunicorn.conf.py); nor
the id of an end user being erased, which the erasure's path names."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# Values of parameters named like a credential, and anything shaped like one of
# our API keys (an 8-character prefix, a dot, 32 characters) wherever it is.
SECRET_PARAMETER = re.compile(r"(?i)((?:^|[?&])[^=&?/\s]*(?:key|token|secret|password|auth)[^=&?/\s]*=)[^&\s#]*")
API_KEY = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")
ERASED_USER = re.compile(r"(/users/)\S+?(/erase)(?=[?#\s]|$)")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = ERASED_USER.sub(rf"\g<1>{REDACTED}\g<2>", text)
    return API_KEY.sub(REDACTED, SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text))


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "q", "f"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        return atoms
