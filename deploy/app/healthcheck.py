"""The image's HEALTHCHECK: exit 0 when gunicorn answers /healthz with 200.

/healthz is 200 only while the database answers. Django checks the Host
header against ALLOWED_HOSTS, so the request names the first allowed host
instead of 127.0.0.1, which production does not list.
"""

import os
import sys
import urllib.request


def main() -> int:
    bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",")[0]
    port = bind.rsplit(":", 1)[1] if ":" in bind else "8000"
    host = os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip().lstrip(".")
    if not host or "*" in host:
        host = "localhost"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - a fixed http:// URL
            return 0 if response.status == 200 else 1
    except OSError as error:  # URLError and HTTPError (503) included
        print(f"healthz: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
