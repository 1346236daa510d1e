import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from books.models import Partner, PartnerAPIKey
from books.tests.factories import PartnerFactory, api_key_for


def run(*args) -> list[str]:
    stdout = io.StringIO()
    call_command(*args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue().splitlines()


def issued_key(lines: list[str]) -> PartnerAPIKey:
    """The key printed alone on the last line, checked as the API would."""
    plain_key = lines[-1]
    assert PartnerAPIKey.objects.is_valid(plain_key)
    return PartnerAPIKey.objects.get_from_key(plain_key)


@pytest.mark.django_db
def test_create_partner_prints_a_working_key_alone_on_the_last_line():
    lines = run("create_partner", "Acme Retail", "--key-name", "checkout")

    partner = Partner.objects.get(name="Acme Retail")
    api_key = issued_key(lines)
    assert api_key.partner == partner
    assert api_key.name == "checkout"
    assert lines[0] == f"Created partner Acme Retail (id {partner.pk}), API key prefix {api_key.prefix}."


@pytest.mark.django_db
def test_create_partner_refuses_a_name_taken_in_any_case():
    PartnerFactory(name="Acme")

    with pytest.raises(CommandError, match="exists already"):
        run("create_partner", "ACME")

    assert Partner.objects.count() == 1


@pytest.mark.parametrize("reference", ["Acme Retail", "acme retail", " ACME RETAIL "])
@pytest.mark.django_db
def test_issue_api_key_finds_the_partner_by_name_in_any_case(reference):
    partner = PartnerFactory(name="Acme Retail")

    lines = run("issue_api_key", reference, "--name", "second")

    api_key = issued_key(lines)
    assert (api_key.partner, api_key.name) == (partner, "second")


@pytest.mark.django_db
def test_issue_api_key_finds_the_partner_by_id_and_keeps_its_other_keys():
    partner = PartnerFactory()
    api_key_for(partner)

    lines = run("issue_api_key", str(partner.pk))

    assert issued_key(lines).partner == partner
    assert set(partner.api_keys.values_list("revoked", flat=True)) == {False}
    assert partner.api_keys.count() == 2


@pytest.mark.django_db
def test_issue_api_key_warns_when_the_partner_is_inactive():
    partner = PartnerFactory(is_active=False)

    lines = run("issue_api_key", partner.name)

    assert any("inactive" in line for line in lines)
    issued_key(lines)


@pytest.mark.django_db
def test_issue_api_key_refuses_an_unknown_partner():
    with pytest.raises(CommandError, match="No partner named or numbered 'Nobody'"):
        run("issue_api_key", "Nobody")


@pytest.mark.django_db
def test_revoke_api_key_revokes_the_key_with_that_prefix_only():
    partner = PartnerFactory(name="Acme")
    doomed, _ = api_key_for(partner)
    kept, _ = api_key_for(partner)

    lines = run("revoke_api_key", doomed.prefix)

    assert lines == [f"API key {doomed.prefix} of partner Acme is revoked."]
    doomed.refresh_from_db()
    kept.refresh_from_db()
    assert (doomed.revoked, kept.revoked) == (True, False)


@pytest.mark.django_db
def test_revoke_api_key_accepts_a_whole_key_pasted_by_mistake():
    api_key, plain_key = api_key_for(PartnerFactory())

    run("revoke_api_key", plain_key)

    api_key.refresh_from_db()
    assert api_key.revoked
    assert not PartnerAPIKey.objects.is_valid(plain_key)


@pytest.mark.django_db
def test_revoke_api_key_refuses_an_unknown_prefix():
    with pytest.raises(CommandError, match="No API key with prefix 'nope'"):
        run("revoke_api_key", "nope")


@pytest.mark.django_db
def test_l14_demo_data_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="development only"):
        call_command("ensure_demo_data", stdout=io.StringIO())

    assert not get_user_model().objects.filter(username="admin").exists()
