"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py`.

Every value can be overridden from the environment or the project's .env
(GUNICORN_* below, as the Django settings read theirs) or on the command line.
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import environ

from couponsite.client_address import DEFAULT_FORWARDED_ALLOW_IPS

environ.Env.read_env(Path(__file__).resolve().parent / ".env", overwrite=False)

wsgi_app = "couponsite.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Sync workers, 2 x cores + 1: measured against threaded workers with keep-alive
# (benchmarks/http_hot_path.py), they served as many requests a second with a
# better p99. A sync worker closes each connection after its answer: put a
# proxy in front that keeps clients' connections alive and buffers requests
# and answers (nginx, deploy/nginx), so a slow client never holds a worker.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that no slow leak can grow without bound.
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = "-"
errorlog = "-"
# Credentials in a query string (a key sent there by mistake) are redacted.
logger_class = "couponsite.access_log.RedactingLogger"
access_log_format = '{"remote": "%(h)s", "request": "%(r)s", "status": %(s)s, "bytes": "%(b)s", "ms": %(M)s}'
# The proxies trusted for X-Forwarded-*; Django reads the same variable to
# trust their X-Forwarded-For at the admin's login (couponsite/client_address.py).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS)
# Requests past these bounds are answered by gunicorn itself, before Django,
# in HTML (400, 414, 431): a proxy in front (deploy/nginx) bounds them first and
# answers in problem+json. The values are gunicorn's defaults, said out loud.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The control socket (gunicornc) of this instance, apart from any other on the
# host: two instances sharing the default path would take each other's.
control_socket = os.environ.get(
    "GUNICORN_CONTROL_SOCKET", os.path.join(tempfile.gettempdir(), f"gunicorn-{bind.replace(':', '-')}.ctl")
)

# Prometheus metrics of all workers together (couponsite/metrics.py): each
# worker writes its counts into files of the folder PROMETHEUS_MULTIPROC_DIR
# and /metrics adds them up. The variable must be set before a worker imports
# prometheus_client, which the hook below does (the app is not preloaded).
# A previous run's files would be added to this run's counts: start from none.
metrics_folder_made_here = None


def on_starting(server):
    global metrics_folder_made_here
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_folder_made_here = tempfile.mkdtemp(prefix="coupons-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_folder_made_here
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def on_exit(server):
    if metrics_folder_made_here:
        shutil.rmtree(metrics_folder_made_here, ignore_errors=True)
