import datetime
import types

from couponsite.access_log import RedactingLogger, redact

KEY = "AbCd1234." + "x" * 32


def test_l6_credentials_in_a_query_string_are_redacted():
    assert redact(f"/api/v1/me?api_key={KEY}&page=2") == "/api/v1/me?api_key=[redacted]&page=2"
    assert redact("/x?token=abc&TOKEN=def") == "/x?token=[redacted]&TOKEN=[redacted]"
    assert redact(f"/x?q={KEY}") == "/x?q=[redacted]"
    assert redact("/api/v1/coupons/KEYS-2024?page=2") == "/api/v1/coupons/KEYS-2024?page=2"


def test_the_id_of_a_user_being_erased_is_redacted_and_other_paths_are_kept():
    assert redact("POST /api/v1/users/customer-42/erase HTTP/1.1") == "POST /api/v1/users/[redacted]/erase HTTP/1.1"
    assert redact("/api/v1/users/a%2Fb/erase/x/erase?k=1") == "/api/v1/users/[redacted]/erase?k=1"
    assert redact("/api/v1/users/customer-42/coupons") == "/api/v1/users/customer-42/coupons"
    assert redact("/api/v1/users/erase/coupons") == "/api/v1/users/erase/coupons"


def test_l6_the_access_line_holds_no_key():
    config = types.SimpleNamespace(
        errorlog="-",
        accesslog=None,
        loglevel="info",
        capture_output=False,
        logconfig=None,
        logconfig_dict={},
        logconfig_json=None,
        syslog=False,
        disable_redirect_access_to_syslog=False,
        access_log_format="%(r)s %(q)s",
        user=0,
        group=0,
        dogstatsd_tags="",
        statsd_host=None,
        statsd_prefix="",
    )
    logger = RedactingLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1/me?key={KEY}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": f"key={KEY}",
        "PATH_INFO": "/api/v1/me",
    }
    response = types.SimpleNamespace(status="200 OK", sent=10, headers=[])

    atoms = logger.atoms(response, types.SimpleNamespace(headers=[]), environ, datetime.timedelta(milliseconds=3))

    assert KEY not in atoms["r"] and KEY not in atoms["q"]
    assert atoms["r"] == "GET /api/v1/me?key=[redacted] HTTP/1.1"
