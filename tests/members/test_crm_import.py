"""Importing member organisations and contacts from a CRM's CSV export
(`members/crm_import.py`, `members/import_views.py`): the preview, errors by row and
column, all or nothing, re-importing changes nothing, existing accounts confirmed; the
preview and the import as background jobs with their own pages."""

import re
from datetime import timedelta
from html import unescape

import pytest
from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members import crm_import
from members.models import (
    Affiliation,
    ClusterMembership,
    ImportJob,
    MembershipLog,
    Organisation,
    OrganisationContact,
    OrganisationDomain,
)
from tests.factories import (
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "/clusters/mechatronics-ua/manage/import/"

CLEAN = (
    "name,country,kind,domains,contact e-mails\n"
    "Acme Robotics GmbH,AT,SME,acme.example,anna.berger@acme.example\n"
    'Institut für Fertigung,Germany,research,"ifw.example; ifw-lab.example",'
    '"Office@IFW.example\nlab@ifw.example"\n'
    "Keller Antriebstechnik,AT,SME,keller.example,\n"
)


def counts() -> dict[str, int]:
    """Rows of every table an import may write to."""
    return {
        model.__name__: model.objects.count()
        for model in (
            Organisation,
            ClusterMembership,
            OrganisationDomain,
            OrganisationContact,
            Affiliation,
            MembershipLog,
        )
    }


def csv_upload(text: str, name: str = "crm.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def signed_value(response) -> str:
    match = re.search(r'name="signed" value="([^"]+)"', response.content.decode())
    assert match, "the preview offers no confirmation"
    return unescape(match.group(1))


# --- the service ------------------------------------------------------------------------


def test_a_clean_file_creates_organisations_memberships_domains_contacts_and_logs(
    cluster, organisation, organiser
):
    result = crm_import.crm_import_apply(cluster=cluster, text=CLEAN, by=organiser)

    assert (result.organisations, result.memberships, result.domains, result.contacts) == (
        2,
        2,
        4,
        3,
    )
    acme = Organisation.objects.get(name="Acme Robotics GmbH")
    institute = Organisation.objects.get(name="Institut für Fertigung")
    assert (acme.slug, acme.country.code, acme.kind) == ("acme-robotics-gmbh", "AT", "sme")
    assert (institute.slug, institute.country.code, institute.kind) == (
        "institut-fur-fertigung",
        "DE",
        "research",
    )
    for new in (acme, institute):
        membership = ClusterMembership.objects.get(cluster=cluster, organisation=new)
        assert (membership.status, membership.joined_on, membership.left_on) == (
            "member",
            None,
            None,
        )
    assert set(institute.domains.values_list("domain", flat=True)) == {
        "ifw.example",
        "ifw-lab.example",
    }
    assert set(institute.contacts.values_list("email", flat=True)) == {
        "office@ifw.example",
        "lab@ifw.example",
    }
    assert list(acme.contacts.values_list("email", flat=True)) == ["anna.berger@acme.example"]
    # The organisation already on the site gains its domain and keeps its one membership.
    assert list(organisation.domains.values_list("domain", flat=True)) == ["keller.example"]
    assert organisation.cluster_memberships.count() == 1
    log = MembershipLog.objects.filter(action=MembershipLog.Action.IMPORTED)
    assert {(e.organisation, e.actor, e.cluster) for e in log} == {
        (acme, organiser, cluster),
        (institute, organiser, cluster),
        (organisation, organiser, cluster),
    }
    assert log.get(organisation=organisation).detail == "domains keller.example"
    assert "lab@ifw.example" not in log.get(organisation=institute).detail


def test_importing_the_same_file_again_changes_nothing(cluster, organisation, organiser):
    crm_import.crm_import_apply(cluster=cluster, text=CLEAN, by=organiser)
    before = counts()

    plan = crm_import.crm_import_plan(cluster=cluster, text=CLEAN)
    again = crm_import.crm_import_apply(cluster=cluster, text=CLEAN, by=organiser)

    assert counts() == before
    assert again == crm_import.ImportResult()
    assert [row.changes for row in plan.rows] == [["no change"]] * 3
    assert not plan.changes_anything


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("Bad Country,Germny,SME,,", "Row 3, country: “Germny” is not a country."),
        (
            "Bad Kind,AT,Startup,,",
            "Row 3, kind: “Startup” is not a kind of organisation; use one of: SME, "
            "Large company, University / research, Public body, Cluster organisation, "
            "Investor / financial, Association, Other.",
        ),
        (
            "Bad Mail,AT,SME,,anna@@bad.example",
            "Row 3, contact e-mails: “anna@@bad.example” is not an e-mail address.",
        ),
        (
            "Free Mail,AT,SME,gmail.com,",
            "Row 3, domains: anyone can get an address at gmail.com, so it cannot confirm members.",
        ),
        (
            "Taken Domain,AT,SME,legoff.example,",
            "Row 3, domains: legoff.example already confirms members of another "
            "organisation, “Chantiers Le Goff”.",
        ),
        (
            "good one,AT,SME,,",
            "Row 3, name: “good one” is already in row 2; give each organisation one row.",
        ),
        (
            "Same Domain Twice,AT,SME,GOOD.example,",
            "Row 3, domains: good.example is already given for “Good One” in row 2.",
        ),
        ("Nowhere Ltd,,SME,,", "Row 3, country: a new organisation needs a country."),
    ],
)
def test_one_bad_row_is_reported_by_row_and_column_and_nothing_is_written(
    cluster, organiser, other_organisation, bad_row, message
):
    OrganisationDomain.objects.create(organisation=other_organisation, domain="legoff.example")
    text = (
        "name,country,kind,domains,contact e-mails\n"
        "Good One,AT,SME,good.example,boss@good.example\n"
        f"{bad_row}\n"
    )
    before = counts()

    plan = crm_import.crm_import_plan(cluster=cluster, text=text)
    assert plan.all_errors == [message]
    assert plan.rows_with_errors == 1
    with pytest.raises(ValidationError) as raised:
        crm_import.crm_import_apply(cluster=cluster, text=text, by=organiser)

    assert raised.value.messages == [message]
    assert counts() == before


def test_every_bad_row_of_a_file_is_reported_by_its_spreadsheet_row(cluster, organiser):
    text = (
        "Name,Country,Kind,Domains,Contacts\n"
        "Bad Country,Germny,SME,,\n"
        "\n"
        "Bad Kind,AT,Startup,,\n"
        'Fine,AT,SME,,"a@fine.example\nb@fine.example"\n'
        "Bad Mail,AT,SME,,not-an-address\n"
    )

    plan = crm_import.crm_import_plan(cluster=cluster, text=text)

    assert [(row.line, len(row.errors)) for row in plan.rows] == [(2, 1), (4, 1), (5, 0), (6, 1)]
    assert plan.all_errors[0] == "Row 2, Country: “Germny” is not a country."
    assert plan.all_errors[2] == "Row 6, Contacts: “not-an-address” is not an e-mail address."


def test_a_semicolon_separated_file_with_a_byte_order_mark_imports(cluster, organiser):
    data = (
        "\ufeffName;Country;Kind;Domains;Contact_Emails\r\n"
        "Acme Robotics GmbH;Austria;large company;acme.example, acme-group.example;"
        "A.Berger@acme.example\r\n"
    ).encode()

    text = crm_import.decode_csv(data=data)
    result = crm_import.crm_import_apply(cluster=cluster, text=text, by=organiser)

    acme = Organisation.objects.get(name="Acme Robotics GmbH")
    assert (acme.country.code, acme.kind) == ("AT", "large_company")
    assert set(acme.domains.values_list("domain", flat=True)) == {
        "acme.example",
        "acme-group.example",
    }
    assert list(acme.contacts.values_list("email", flat=True)) == ["a.berger@acme.example"]
    assert (result.organisations, result.memberships, result.domains, result.contacts) == (
        1,
        1,
        2,
        1,
    )


def test_a_verified_contact_becomes_admin_of_the_organisation_and_an_unverified_one_does_not(
    cluster, organiser
):
    anna = ProfileFactory(user=UserFactory(email="anna.berger@acme.example"))
    bob = ProfileFactory(user=UserFactory(email="bob@acme.example", email_address=False))
    EmailAddress.objects.create(user=bob.user, email=bob.user.email, primary=True, verified=False)
    text = (
        "name,country,contact e-mails\n"
        "Acme Robotics GmbH,AT,anna.berger@acme.example;bob@acme.example\n"
    )

    result = crm_import.crm_import_apply(cluster=cluster, text=text, by=organiser)

    acme = Organisation.objects.get(name="Acme Robotics GmbH")
    affiliation = Affiliation.objects.get(user=anna.user)
    assert (affiliation.organisation, affiliation.status, affiliation.is_admin) == (
        acme,
        Affiliation.Status.CONFIRMED,
        True,
    )
    assert affiliation.confirmed_via == Affiliation.Via.CONTACT
    anna.refresh_from_db()
    bob.refresh_from_db()
    assert anna.organisation == acme
    assert bob.organisation is None
    assert not Affiliation.objects.filter(user=bob.user).exists()
    assert result.people_confirmed == 1


def test_an_account_at_an_imported_domain_joins_without_becoming_admin(cluster, organiser):
    carla = ProfileFactory(user=UserFactory(email="carla@acme.example"))
    inactive = ProfileFactory(user=UserFactory(email="gone@acme.example", is_active=False))

    crm_import.crm_import_apply(
        cluster=cluster, text="name,country,domains\nAcme,AT,acme.example\n", by=organiser
    )

    affiliation = Affiliation.objects.get(user=carla.user)
    assert (affiliation.organisation.name, affiliation.status, affiliation.is_admin) == (
        "Acme",
        Affiliation.Status.CONFIRMED,
        False,
    )
    assert not Affiliation.objects.filter(user=inactive.user).exists()


def test_an_existing_organisation_keeps_its_fields_and_its_former_membership_with_warnings(
    cluster, organiser
):
    old = OrganisationFactory(name="Keller Antriebstechnik", country="AT", kind="sme")
    ClusterMembership.objects.create(
        cluster=cluster, organisation=old, status="former", left_on="2024-01-01"
    )
    text = "name,country,kind\nKELLER antriebstechnik,Germany,Large company\n"

    plan = crm_import.crm_import_plan(cluster=cluster, text=text)
    crm_import.crm_import_apply(cluster=cluster, text=text, by=organiser)

    assert plan.rows[0].organisation == old
    assert plan.rows[0].changes == ["no change"]
    assert plan.rows[0].warnings == [
        "Row 2: the site has Austria as country, the file Germany; the site's value stays.",
        "Row 2: the site has SME as kind, the file Large company; the site's value stays.",
        "Row 2: already in the cluster as “Former member”; the import leaves that membership "
        "as it is.",
    ]
    old.refresh_from_db()
    assert (old.country.code, old.kind) == ("AT", "sme")
    membership = ClusterMembership.objects.get(cluster=cluster, organisation=old)
    assert membership.status == "former"
    assert not MembershipLog.objects.exists()


def test_a_new_organisation_gets_a_free_slug(cluster, organiser):
    OrganisationFactory(name="ACME (old)", slug="acme")

    crm_import.crm_import_apply(cluster=cluster, text="name,country\nAcme,AT\n", by=organiser)

    assert Organisation.objects.get(name="Acme").slug == "acme-2"


def test_a_file_over_the_row_limit_is_refused(cluster, organiser, settings):
    settings.IMPORT_MAX_ROWS = 5000
    rows = "".join(f"Org {n},AT\n" for n in range(5000))  # with the header: 5,001 rows
    text = "name,country\n" + rows
    before = counts()

    plan = crm_import.crm_import_plan(cluster=cluster, text=text)
    with pytest.raises(ValidationError):
        crm_import.crm_import_apply(cluster=cluster, text=text, by=organiser)

    assert plan.errors == ["The file has more than 5,000 rows; split it into smaller files."]
    assert counts() == before


def test_a_file_without_a_name_column_is_refused(cluster):
    plan = crm_import.crm_import_plan(cluster=cluster, text="Firma,Land\nAcme,AT\n")

    assert plan.errors == [
        "The first row must name the columns, with at least “name”; it reads: Firma, Land. "
        "Expected columns: name, country, kind, domains, contact e-mails."
    ]


def test_a_name_with_a_nul_byte_is_a_row_error_and_nothing_is_written(cluster, organiser):
    text = "name,country\nAcme\x00 Robotics,AT\nBaltic Hull,LT\n"
    before = Organisation.objects.count()

    plan = crm_import.crm_import_plan(cluster=cluster, text=text)

    assert plan.all_errors == ["Row 2, name: the name holds an invisible control character."]
    with pytest.raises(ValidationError):
        crm_import.crm_import_apply(cluster=cluster, text=text, by=organiser)
    assert Organisation.objects.count() == before


def test_only_organisers_of_the_cluster_can_import(cluster, member):
    with pytest.raises(PermissionDenied):
        crm_import.crm_import_apply(cluster=cluster, text=CLEAN, by=member.user)

    assert not Organisation.objects.filter(name="Acme Robotics GmbH").exists()


def test_the_preview_costs_the_same_queries_for_ten_rows_as_for_a_hundred(cluster):
    def text(n: int) -> str:
        return "name,country,domains,contacts\n" + "".join(
            f"Org {i},AT,org{i}.example,boss@org{i}.example\n" for i in range(n)
        )

    with CaptureQueriesContext(connection) as ten:
        crm_import.crm_import_plan(cluster=cluster, text=text(10))
    with CaptureQueriesContext(connection) as hundred:
        crm_import.crm_import_plan(cluster=cluster, text=text(100))

    assert len(hundred) == len(ten)


# --- the page ---------------------------------------------------------------------------
# The preview and the import run as jobs (`members.imports`); in the tests they run
# in-process once the upload's transaction commits, so the job's page shows the outcome.


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST as a browser does, running the tasks the request queued; the response."""

    def send(client, url, data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data)

    return send


def preview_of(client, post, text: str):
    """Upload `text`; the preview job's page (after the redirect)."""
    response = post(client, URL, {"file": csv_upload(text)})
    assert response.status_code == 302, response.content.decode()
    assert re.fullmatch(rf"{URL}\d+/", response["Location"])
    return client.get(response["Location"])


def apply_of(client, post, preview):
    """Press "Import" on a preview's page; the import job's page."""
    response = post(client, preview.wsgi_request.path, {"action": "apply"})
    assert response.status_code == 302
    return client.get(response["Location"])


def test_the_memberships_page_links_to_the_import(client_for, cluster, organiser):
    response = client_for(organiser).get("/clusters/mechatronics-ua/manage/memberships/")

    assert URL in response.content.decode()


def test_the_upload_form_explains_the_columns(client_for, cluster, organiser):
    response = client_for(organiser).get(URL)

    content = response.content.decode()
    assert response.status_code == 200
    assert 'accept=".csv,text/csv"' in content
    assert "contact e-mails" in content
    assert "At most 50,000 rows and 10 MB." in content


def test_the_preview_shows_the_planned_changes_and_writes_nothing(
    client_for, post, cluster, organisation, organiser
):
    before = counts()

    response = preview_of(client_for(organiser), post, CLEAN)

    content = unescape(response.content.decode())
    assert response.status_code == 200
    for change in (
        "new organisation (SME, Austria)",
        "joins the cluster as member",
        "adds domain acme.example",
        "adds contact anna.berger@acme.example",
        "adds domain keller.example",
    ):
        assert change in content
    assert (
        "New organisations: 2 · new memberships: 2 · domains: 4 · contacts: 3 · "
        "rows with errors: 0" in content
    )
    assert 'role="alert"' not in content
    assert 'name="action" value="apply"' in content
    assert 'http-equiv="refresh"' not in content  # done: the page stops reloading
    assert counts() == before


def test_previewing_then_confirming_imports_exactly_the_previewed_file(
    client_for, post, cluster, organisation, organiser
):
    client = client_for(organiser)
    preview = preview_of(client, post, CLEAN)

    response = apply_of(client, post, preview)

    assert response.status_code == 200
    assert (
        "Imported: 2 new organisations, 2 new memberships, 4 domains, 3 contacts. People "
        "with an account confirmed at once: 0." in response.content.decode()
    )
    assert (
        Organisation.objects.filter(
            name__in=["Acme Robotics GmbH", "Institut für Fertigung"], clusters=cluster
        ).count()
        == 2
    )
    # The preview now points at its result instead of offering a second import.
    again = client.get(preview.wsgi_request.path).content.decode()
    assert 'name="action" value="apply"' not in again
    assert "This file was imported" in again


def test_pressing_import_twice_imports_once(client_for, post, cluster, organiser):
    client = client_for(organiser)
    preview = preview_of(client, post, CLEAN)

    first = post(client, preview.wsgi_request.path, {"action": "apply"})
    second = post(client, preview.wsgi_request.path, {"action": "apply"})

    assert first["Location"] == second["Location"]
    assert Organisation.objects.filter(name="Acme Robotics GmbH").count() == 1
    assert MembershipLog.objects.filter(action=MembershipLog.Action.IMPORTED).count() == 3


def test_a_preview_with_errors_is_refused_and_offers_no_confirmation(
    client_for, post, cluster, organiser
):
    text = "name,country,kind\nGood One,AT,SME\nBad Country,Germny,SME\n"
    client = client_for(organiser)

    response = preview_of(client, post, text)

    content = unescape(response.content.decode())
    assert 'role="alert"' in content
    assert "1 row has errors" in content
    assert "Row 3, country: “Germny” is not a country." in content
    assert 'name="action" value="apply"' not in content
    refused = post(client, response.wsgi_request.path, {"action": "apply"})
    assert "This preview cannot be imported." in unescape(
        client.get(refused["Location"]).content.decode()
    )
    assert not Organisation.objects.filter(name="Good One").exists()


def test_a_file_that_went_bad_since_the_preview_is_not_imported_at_all(
    client_for, post, cluster, organisation, organiser, other_organisation
):
    client = client_for(organiser)
    preview = preview_of(client, post, CLEAN)
    # Meanwhile another organisation's people start joining by one of the file's domains.
    OrganisationDomain.objects.create(organisation=other_organisation, domain="ifw-lab.example")
    before = counts()

    response = apply_of(client, post, preview)

    content = unescape(response.content.decode())
    assert 'role="alert"' in content
    assert "Nothing was imported: the site changed since the preview." in content
    assert (
        "Row 3, domains: ifw-lab.example already confirms members of another organisation, "
        "“Chantiers Le Goff”." in content
    )
    assert counts() == before


def test_a_preview_more_than_an_hour_old_is_not_imported(client_for, post, cluster, organiser):
    client = client_for(organiser)
    preview = preview_of(client, post, CLEAN)
    ImportJob.objects.filter(kind=ImportJob.Kind.CRM_PREVIEW).update(
        finished_at=timezone.now() - timedelta(minutes=61)
    )
    before = counts()

    response = post(client, preview.wsgi_request.path, {"action": "apply"})

    assert response["Location"] == preview.wsgi_request.path
    page = unescape(client.get(response["Location"]).content.decode())
    assert "This preview is more than an hour old; upload the file again." in page
    assert counts() == before


def test_a_preview_cannot_be_opened_or_imported_through_another_cluster(
    client_for, post, cluster, other_cluster, organiser
):
    ClusterOrganiserFactory(cluster=other_cluster, user=organiser)
    client = client_for(organiser)
    preview = preview_of(client, post, CLEAN)
    elsewhere = preview.wsgi_request.path.replace("mechatronics-ua", other_cluster.slug)

    assert client.get(elsewhere).status_code == 404
    assert post(client, elsewhere, {"action": "apply"}).status_code == 404
    assert not Organisation.objects.filter(name="Acme Robotics GmbH").exists()


def test_another_organiser_of_the_cluster_cannot_see_or_import_someones_preview(
    client_for, post, cluster, organiser
):
    preview = preview_of(client_for(organiser), post, CLEAN)
    other = UserFactory()
    ClusterOrganiserFactory(cluster=cluster, user=other)
    client = client_for(other)

    assert client.get(preview.wsgi_request.path).status_code == 404
    assert post(client, preview.wsgi_request.path, {"action": "apply"}).status_code == 404
    assert not Organisation.objects.filter(name="Acme Robotics GmbH").exists()


def test_a_member_who_is_not_an_organiser_gets_404(client_for, post, cluster, member, organiser):
    preview = preview_of(client_for(organiser), post, CLEAN)
    client = client_for(member.user)
    before = counts()

    assert client.get(URL).status_code == 404
    assert post(client, URL, {"file": csv_upload(CLEAN)}).status_code == 404
    assert client.get(preview.wsgi_request.path).status_code == 404
    assert post(client, preview.wsgi_request.path, {"action": "apply"}).status_code == 404
    assert counts() == before
    assert ImportJob.objects.count() == 1


def test_staff_may_import_and_see_every_import(client_for, post, cluster, organiser, staff):
    preview = preview_of(client_for(organiser), post, CLEAN)

    assert client_for(staff).get(preview.wsgi_request.path).status_code == 200
    assert preview_of(client_for(staff), post, CLEAN).status_code == 200


def test_an_oversized_or_non_utf8_upload_is_refused(client_for, cluster, organiser, settings):
    settings.IMPORT_MAX_BYTES = 2 * 1024 * 1024
    client = client_for(organiser)
    big = SimpleUploadedFile("big.csv", b"name,country\n" + b"x" * settings.IMPORT_MAX_BYTES)
    latin1 = SimpleUploadedFile("old.csv", "name,country\nSàrl Dupont,FR\n".encode("latin-1"))

    too_big = client.post(URL, {"file": big})
    not_utf8 = client.post(URL, {"file": latin1})

    assert too_big.status_code == 400
    assert "larger than 2 MB" in too_big.content.decode()
    assert not_utf8.status_code == 400
    assert "not UTF-8" in not_utf8.content.decode()
    assert 'role="alert"' in not_utf8.content.decode()
    assert not ImportJob.objects.exists()


def test_an_upload_over_the_row_limit_is_refused_before_any_work(
    client_for, cluster, organiser, settings
):
    settings.IMPORT_MAX_ROWS = 10
    # Ten rows as a spreadsheet counts them, though a quoted cell spans two lines.
    ten = 'name,country,contacts\nAcme,AT,"a@acme.example\nb@acme.example"\n' + "".join(
        f"Org {n},AT,\n" for n in range(8)
    )
    eleven = ten + "Org 8,AT,\n"
    client = client_for(organiser)

    accepted = client.post(URL, {"file": csv_upload(ten)})
    refused = client.post(URL, {"file": csv_upload(eleven)})

    assert accepted.status_code == 302
    assert refused.status_code == 400
    assert "The file has more than 10 rows; split it into smaller files." in (
        refused.content.decode()
    )
    assert ImportJob.objects.count() == 1


def test_columns_are_found_whatever_their_case_and_spacing_and_others_are_left_out(cluster):
    text = (
        " NAME ;Country_Code;Organisation Kind;E-mail Domains;Contact e-mail;E-mail;Notes\n"
        "Acme;at;Public body;acme.example;anna@acme.example;info@acme.example;call back\n"
    )

    plan = crm_import.crm_import_plan(cluster=cluster, text=text)

    row = plan.rows[0]
    assert not plan.has_errors
    assert (row.name, row.country, row.kind) == ("Acme", "AT", "public_body")
    assert (row.domains, row.contacts) == (["acme.example"], ["anna@acme.example"])
    assert plan.ignored_columns == ["E-mail", "Notes"]
