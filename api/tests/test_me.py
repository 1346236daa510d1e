from api.tests.conftest import assert_problem


def test_me_names_the_partner_and_the_key_of_the_request(tenant, other):
    response = tenant.client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "partner": {"id": tenant.partner.pk, "name": tenant.partner.name},
        "api_key": {
            "prefix": tenant.api_key.prefix,
            "name": tenant.api_key.name,
            "created_at": tenant.api_key.created.isoformat().replace("+00:00", "Z"),
        },
    }


def test_me_without_a_key_is_not_authenticated(client, db):
    assert_problem(client.get("/api/v1/me"), 401, "not_authenticated")
