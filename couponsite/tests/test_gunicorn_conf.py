import runpy

from django.conf import settings


def conf(monkeypatch, **env) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))


def test_l13_two_instances_on_one_host_have_control_sockets_of_their_own(monkeypatch):
    first = conf(monkeypatch, GUNICORN_BIND="127.0.0.1:8001")["control_socket"]
    second = conf(monkeypatch, GUNICORN_BIND="127.0.0.1:8002")["control_socket"]

    assert first != second


def test_the_access_log_redacts_and_requests_are_bounded(monkeypatch):
    values = conf(monkeypatch)

    assert values["logger_class"] == "couponsite.access_log.RedactingLogger"
    assert values["limit_request_line"] <= 8190
