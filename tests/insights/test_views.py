"""The organisers' gender-balance pages: who may see them, what they show, what they log.

Registration figures are releases (drawn once, with noise); most tests here check *what*
is counted, with `exact_releases` (no noise, every release due at once), and compare with
what the privacy rules publish for exactly the raw counts (`expected`, `on_stage`). The
timing and the permanence of releases have tests of their own at the end."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events.models import Registration, Session, StageRole
from insights import charts
from insights.models import Release
from members import privacy
from members.models import GenderIdentity, StatisticsAccess
from tests.events.factories import (
    EventFactory,
    RegistrationFactory,
    SessionFactory,
    StageRoleFactory,
)
from tests.factories import ClusterOrganiserFactory, GenderIdentityFactory, ProfileFactory
from tests.insights.drawing import draw_quarter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("exact_releases")]

G = GenderIdentity.Gender
SELF_DESCRIPTION = "Nebula-4420-identity"
WOMAN = re.compile(r"\bwoman\b", re.IGNORECASE)
YEAR = timezone.localdate().year


def person(
    gender: str, *, consent: bool = True, stage: bool | None = None, name: str | None = None
):
    """A member with a gender record; `stage` (counted on stage) follows `consent`."""
    profile = ProfileFactory(**({"display_name": name} if name else {}))
    GenderIdentityFactory(
        user=profile.user,
        gender=gender,
        statistics_consent=consent,
        stage_consent=consent if stage is None else stage,
        self_description=SELF_DESCRIPTION if gender == G.SELF_DESCRIBED else "",
    )
    return profile


def expected(**raw: int) -> privacy.GenderCounts:
    """What the privacy rules publish of a release of exactly these raw counts (with
    `exact_releases` the release is the raw counts): the page must show just that."""
    return privacy.publish_released(raw, sum(raw.values()), k=5)


def on_stage(**raw: int) -> privacy.GenderCounts:
    """Stage figures are not released: exact counts, published as before."""
    return privacy.publish(raw, k=5)


def cells(counts: privacy.GenderCounts) -> str:
    """The table cells (categories, then total) of published figures, as on the page."""
    values = [*(counts.cells[c] for c in privacy.STATISTICS_CATEGORIES), counts.total]
    return "".join(f"<td>{'&lt; 5' if v is None else v}</td>" for v in values)


def register(event, gender: str, n: int, status=Registration.Status.CONFIRMED, **kwargs):
    profiles = [person(gender, **kwargs) for _ in range(n)]
    waiting = status == Registration.Status.WAITLISTED
    for position, profile in enumerate(profiles, start=1):
        RegistrationFactory(
            event=event,
            user=profile.user,
            status=status,
            waitlist_position=position if waiting else None,
        )
    return profiles


def past_event(cluster, **kwargs):
    starts = timezone.now() - timedelta(days=kwargs.pop("days_ago", 30))
    return EventFactory(clusters=[cluster], starts_at=starts, **kwargs)


@pytest.fixture
def event(cluster):
    """10 women and 15 men participate (share 40 %), 3 self-described register."""
    event = past_event(cluster, title="Automation Days", slug="automation-days")
    register(event, G.WOMAN, 10, name="Tara Women-Registrant")
    register(event, G.MAN, 15)
    register(event, G.SELF_DESCRIBED, 3, status=Registration.Status.WAITLISTED)
    return event


@pytest.fixture
def other_organiser(other_cluster):
    profile = ProfileFactory(display_name="Otto Elsewhere")
    ClusterOrganiserFactory(cluster=other_cluster, user=profile.user)
    return profile.user


def urls(event, cluster) -> dict[str, str]:
    return {
        "balance_event": reverse("insights:event", args=[event.slug]),
        "balance_event_report": reverse("insights:event_report", args=[event.slug]),
        "balance_dashboard": reverse("insights:dashboard", args=[cluster.slug]),
        "balance_csv": reverse("insights:csv", args=[cluster.slug]),
        "balance_year_report": reverse("insights:year_report", args=[cluster.slug, YEAR]),
    }


PAGES = ["balance_event", "balance_event_report", "balance_dashboard", "balance_csv",
         "balance_year_report"]  # fmt: skip


@pytest.mark.parametrize("page", PAGES)
def test_only_organisers_of_the_cluster_and_staff_see_the_figures(
    page, client_for, event, cluster, member, other_organiser, organiser, staff
):
    url = urls(event, cluster)[page]
    assert client_for(member.user).get(url).status_code == 404
    assert client_for(other_organiser).get(url).status_code == 404
    assert client_for(organiser).get(url).status_code == 200
    assert client_for(staff).get(url).status_code == 200
    # Refused looks are not logged as looks at figures.
    assert set(StatisticsAccess.objects.values_list("user", flat=True)) == {
        organiser.pk,
        staff.pk,
    }


@pytest.mark.parametrize("page", PAGES)
def test_every_page_logs_who_looked_with_which_filter(page, client_for, event, cluster, organiser):
    url = urls(event, cluster)[page]
    query = "?period=month&kind=webinar" if page in ("balance_dashboard", "balance_csv") else ""
    assert client_for(organiser).get(url + query).status_code == 200
    [access] = StatisticsAccess.objects.all()
    assert access.user == organiser
    assert access.cluster == cluster
    assert access.view == page
    if page == "balance_event" or page == "balance_event_report":
        assert access.filters == {"event": event.slug}
    elif page == "balance_year_report":
        assert access.filters["start"] == f"{YEAR}-01-01"
        assert access.filters["end"] == f"{YEAR + 1}-01-01"
    else:
        assert access.filters["period"] == "month"
        assert access.filters["kind"] == "webinar"
        assert access.filters["end"] == (timezone.localdate() + timedelta(days=1)).isoformat()


def test_event_page_shows_the_funnel_with_hidden_cells_and_the_share(client_for, event, organiser):
    html = client_for(organiser).get(reverse("insights:event", args=[event.slug])).text
    assert "<svg" in html and 'role="img"' in html
    funnel = html.split('id="h-funnel"')[1].split("</section>")[0]
    # Participants: 10 women, 15 men, total 25 → share 40 %; 3 self-described waitlisted.
    participants = expected(woman=10, man=15)
    assert (participants.cells[G.WOMAN], participants.cells[G.MAN]) == (10, 15)
    assert f'<th scope="row">Participants</th>{cells(participants)}' in funnel
    waitlisted = expected(self_described=3)
    assert waitlisted.total is None  # fewer than 5: no breakdown at all
    assert f'<th scope="row">Waitlisted</th>{cells(waitlisted)}' in funnel
    assert (
        f'<th scope="row">Registered</th>{cells(expected(woman=10, man=15, self_described=3))}'
        in funnel
    )
    assert "40 %" in html
    assert "fewer than 5" in html or "&lt; 5" in html
    assert "women among participants" in html


def test_event_page_flags_an_all_male_panel_and_a_share_below_target(
    client_for, cluster, organiser
):
    event = past_event(cluster)
    register(event, G.WOMAN, 5)
    register(event, G.MAN, 15)  # 25 % women: below the 40 % target
    panel = SessionFactory(event=event, kind=Session.Kind.PANEL, title="The future of drives")
    for _ in range(3):
        StageRoleFactory(
            event=event,
            session=panel,
            role=StageRole.Role.PANELLIST,
            profile=person(G.MAN),
            guest_name="",
        )
    html = client_for(organiser).get(reverse("insights:event", args=[event.slug])).text
    assert "1 all-male panel" in html
    assert "Below target (40 %)" in html
    assert "Women only as moderators" not in html


def test_balanced_event_shows_no_panel_flag(client_for, event, organiser):
    html = client_for(organiser).get(reverse("insights:event", args=[event.slug])).text
    assert "all-male panel" not in html
    assert "Balanced (40–60 %)" in html


def test_csv_holds_the_published_figures_and_hidden_cells_as_fewer_than_k(
    client_for, event, cluster, organiser
):
    response = client_for(organiser).get(reverse("insights:csv", args=[cluster.slug]))
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "group", "measure", "category", "value"]
    kind = {(r[2], r[3]): r[4] for r in rows if r[0] == "kind" and r[1] == "Webinar"}
    assert kind[("Participants", "Women")] == "10"
    assert kind[("Participants", "Men")] == "15"
    assert kind[("Participants", "Total")] == "25"
    assert kind[("Waitlisted", "Self-described")] == "<5"
    assert kind[("Waitlisted", "Total")] == "<5"  # three people: nothing at all
    assert kind[("Registered", "Self-described")] == "<5"
    assert kind[("Registered", "Total")] == "28"  # released: the exact number of rows
    # Every value is published: released figures are 0, at least 5 or hidden; stage
    # figures (exact, not released) 0, a multiple of 5 or hidden.
    for row in rows[1:]:
        if row[0] == "stage":
            assert row[4] == "<5" or int(row[4]) % 5 == 0
        else:
            assert row[4] == "<5" or int(row[4]) == 0 or int(row[4]) >= 5
    assert SELF_DESCRIPTION not in text
    assert not WOMAN.search(text)


def test_csv_defuses_formulas_in_group_names(client_for, cluster, organiser):
    from tests.factories import TopicFactory

    topic = TopicFactory(name="=HYPERLINK(1)", slug="formula")
    event = past_event(cluster, topics=[topic])
    register(event, G.WOMAN, 5)
    text = client_for(organiser).get(reverse("insights:csv", args=[cluster.slug])).text
    assert "'=HYPERLINK(1)" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_dashboard_query_count_does_not_grow_with_events(client_for, cluster, organiser):
    client = client_for(organiser)
    url = reverse("insights:dashboard", args=[cluster.slug])

    def add_events(n: int, start: int):
        for i in range(n):
            event = past_event(cluster, days_ago=10 + start + i * 20)
            register(event, G.WOMAN, 2)
            register(event, G.MAN, 3, status=Registration.Status.ATTENDED)
            panel = SessionFactory(event=event, kind=Session.Kind.PANEL)
            StageRoleFactory(event=event, session=panel, role=StageRole.Role.PANELLIST)
            StageRoleFactory(event=event, session=panel, role=StageRole.Role.MODERATOR)

    add_events(2, 0)
    client.get(url)  # warm up caches (site, session) and draw the releases due
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add_events(10, 40)
    client.get(url)  # the new events' releases are drawn on the first view
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["event_rows"]) == 12
    assert len(many) == len(few)


def test_dashboard_pages_its_events_by_25(client_for, cluster, organiser):
    for i in range(26):
        past_event(cluster, days_ago=5 + i)
    client = client_for(organiser)
    url = reverse("insights:dashboard", args=[cluster.slug])
    assert len(client.get(url).context["event_rows"]) == 25
    assert len(client.get(url + "?page=2").context["event_rows"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "?start=2026-05-01&end=2026-04-01",
        "?start=yesterday",
        "?period=decade",
        "?kind=rave",
        "?topic=no-such-topic",
        "?period=month&start=2000-01-01&end=2026-01-01",
    ],
)
def test_invalid_filter_answers_400_and_computes_nothing(
    query, client_for, event, cluster, organiser
):
    client = client_for(organiser)
    for name in ("insights:dashboard", "insights:csv"):
        response = client.get(reverse(name, args=[cluster.slug]) + query)
        assert response.status_code == 400
        assert "errorlist" in response.text
        assert "<svg" not in response.text
    assert not StatisticsAccess.objects.exists()


def test_dashboard_filters_by_kind_and_shows_the_pipeline(client_for, event, cluster, organiser):
    client = client_for(organiser)
    url = reverse("insights:dashboard", args=[cluster.slug])
    assert "No quarter of this selection has ended yet" in client.get(url).text
    draw_quarter(cluster, event.starts_at.date())
    html = client.get(url).text
    assert "Automation Days" in html
    assert "Members" in html and "On stage" in html
    assert "Automation Days" not in client.get(url + "?kind=conference").text


def test_no_page_shows_a_person_next_to_a_gender(client_for, event, cluster, organiser):
    """Names of people never appear on the figures pages, nor self-descriptions, nor the
    singular word that would describe one person."""
    speaker = person(G.WOMAN, name="Wanda Speaker-Person")
    StageRoleFactory(event=event, role=StageRole.Role.SPEAKER, profile=speaker, guest_name="")
    StageRoleFactory(
        event=event,
        role=StageRole.Role.MODERATOR,
        guest_name="Gina Guest-Moderator",
        guest_gender=G.WOMAN,
        guest_gender_consent=True,
    )
    client = client_for(organiser)
    for url in urls(event, cluster).values():
        text = client.get(url).content.decode("utf-8-sig")
        for name in ("Tara Women-Registrant", "Wanda Speaker-Person", "Gina Guest-Moderator"):
            assert name not in text, url
        assert SELF_DESCRIPTION not in text, url
        assert not WOMAN.search(text), url
        assert 'value="woman"' not in text and ">woman<" not in text.lower(), url


def test_reports_are_printable_pages_with_the_privacy_note(
    client_for, event, cluster, organiser, settings
):
    settings.PRIVACY_NOISE_SIGMA = 3.3  # the note states the guarantee of the settings
    client = client_for(organiser)
    for name, args in (
        ("insights:event_report", [event.slug]),
        ("insights:year_report", [cluster.slug, YEAR]),
    ):
        html = client.get(reverse(name, args=args)).text
        # The A4 print rules are a static stylesheet (the CSP refuses an inline <style>).
        assert "css/balance-report.css" in html and "<style" not in html
        assert 'class="site-header"' not in html  # no site navigation
        assert "rounded to a multiple of 5" not in html
        assert "random noise" in html and "58.5 %" in html
        assert "agreed that their gender counts on the panels" in html
        assert "<svg" in html


def test_year_report_counts_events_below_target(client_for, cluster, organiser):
    low = past_event(cluster, days_ago=1)
    register(low, G.WOMAN, 5)
    register(low, G.MAN, 20)
    response = client_for(organiser).get(
        reverse("insights:year_report", args=[cluster.slug, timezone.localdate().year])
    )
    assert response.context["below_target"] == 1
    assert "1 event below target" in response.text


def test_year_out_of_range_is_404(client_for, cluster, organiser):
    url = reverse("insights:year_report", args=[cluster.slug, 1066])
    assert client_for(organiser).get(url).status_code == 404


def test_organisers_set_the_cluster_targets(client_for, cluster, organiser, member):
    url = reverse("members:cluster_manage", args=[cluster.slug])
    page = client_for(organiser).get(url).text
    assert "Gender balance targets" in page
    assert reverse("insights:dashboard", args=[cluster.slug]) in page
    data = {
        "action": "set_targets",
        "women_target_percent": "45",
        "balanced_from_percent": "45",
        "balanced_to_percent": "55",
    }
    assert client_for(organiser).post(url, data).status_code == 302
    cluster.refresh_from_db()
    assert (cluster.women_target_percent, cluster.balanced_from_percent) == (45, 45)
    assert cluster.balanced_to_percent == 55
    assert (
        client_for(member.user).post(url, data | {"women_target_percent": "10"}).status_code == 404
    )
    cluster.refresh_from_db()
    assert cluster.women_target_percent == 45


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"balanced_from_percent": "70", "balanced_to_percent": "60"}, "must end at or above"),
        ({"women_target_percent": "140"}, "less than or equal to 100"),
        ({"women_target_percent": "-1"}, "greater than or equal to 0"),
    ],
)
def test_invalid_targets_are_refused_with_a_message(
    changes, message, client_for, cluster, organiser
):
    data = {
        "action": "set_targets",
        "women_target_percent": "40",
        "balanced_from_percent": "40",
        "balanced_to_percent": "60",
    } | changes
    response = client_for(organiser).post(
        reverse("members:cluster_manage", args=[cluster.slug]), data
    )
    assert response.status_code == 400
    assert message in response.text
    cluster.refresh_from_db()
    assert cluster.balanced_to_percent == 60 and cluster.women_target_percent == 40


def test_charts_escape_labels_and_draw_hidden_cells_as_hatched_marks():
    svg = charts.stacked_bars(
        [("<script>", {"a": 10, "b": None})],
        series=[("a", "Women"), ("b", "Men")],
        title="Funnel & more",
        k=5,
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and "<title" in svg
    assert "fewer than 5" in svg and "hatch" in svg
    line = charts.line_chart([("Share", [0.4, None, 0.5])], ["Q1", "Q2", "Q3"], title="Trend")
    assert 'role="img"' in line
    assert "<polyline" not in line  # the gap breaks the line: no two neighbouring points


@pytest.mark.parametrize("period, label", [("month", "%b %Y"), ("quarter", "Q"), ("year", "%Y")])
def test_dashboard_groups_the_trend_by_the_chosen_period(
    period, label, client_for, event, cluster, organiser
):
    response = client_for(organiser).get(
        reverse("insights:dashboard", args=[cluster.slug]) + f"?period={period}"
    )
    assert response.status_code == 200
    [row] = response.context["trend"]
    expected = event.starts_at.astimezone(timezone.get_current_timezone())
    if label == "Q":
        assert row["registered"].label == f"{expected.year} Q{(expected.month - 1) // 3 + 1}"
    else:
        assert row["registered"].label == expected.strftime(label)
    assert row["registered"].total == "28"  # released: the exact number of registrations
    assert row["registered"].cells == [
        "10",
        "15",
        "< 5",
        "< 5",
        "< 5",
    ]


def test_event_page_flags_women_only_as_moderators(client_for, cluster, organiser):
    event = past_event(cluster)
    StageRoleFactory(event=event, role=StageRole.Role.SPEAKER, profile=person(G.MAN), guest_name="")
    StageRoleFactory(
        event=event,
        role=StageRole.Role.MODERATOR,
        guest_name="Gina Guest-Moderator",
        guest_gender=G.WOMAN,
        guest_gender_consent=True,
    )
    html = client_for(organiser).get(reverse("insights:event", args=[event.slug])).text
    assert "Women only as moderators" in html
    assert "Gina Guest-Moderator" not in html
    assert "Too few to say" in html  # no participants: no share, no target position


def test_stage_counts_only_people_who_agreed_to_be_counted_on_stage(client_for, cluster, organiser):
    """Consent to anonymous statistics is not consent to be counted on a (public) stage:
    a panel with a man who did not agree to the latter is not called all-male."""
    event = past_event(cluster)
    panel = SessionFactory(event=event, kind=Session.Kind.PANEL, title="Drives of tomorrow")
    panellists = [person(G.MAN), person(G.MAN), person(G.MAN, stage=False)]
    for profile in panellists:
        StageRoleFactory(
            event=event, session=panel, role=StageRole.Role.PANELLIST, profile=profile,
            guest_name="",
        )  # fmt: skip
    response = client_for(organiser).get(reverse("insights:event", args=[event.slug]))
    assert "all-male panel" not in response.text
    [row] = [r for r in response.context["stage"] if r.label == "Panellists"]
    assert row.counts == on_stage(man=2, undisclosed=1)


# --- releases: when they are drawn, and that they never change ------------------------


@pytest.fixture
def default_privacy(settings):
    """The settings a deployment runs with: noise, and releases two days after the end
    (overriding `exact_releases`)."""
    settings.PRIVACY_NOISE_SIGMA = 3.3
    settings.PRIVACY_RELEASE_AFTER_HOURS = 48
    settings.PRIVACY_MIN_GROUP_SIZE = 5


def test_event_page_before_the_release_shows_the_stage_and_no_funnel(
    default_privacy, client_for, cluster, organiser
):
    event = EventFactory(clusters=[cluster])  # a week from now
    register(event, G.WOMAN, 10)
    register(event, G.MAN, 15)
    for _ in range(5):
        StageRoleFactory(
            event=event, role=StageRole.Role.SPEAKER, profile=person(G.WOMAN), guest_name=""
        )

    response = client_for(organiser).get(reverse("insights:event", args=[event.slug]))

    assert response.status_code == 200
    html = response.text
    due = timezone.localtime(event.ends_at + timedelta(hours=48))
    assert f"released once, on {due.strftime('%A %-d %B %Y, %H:%M')}" in html
    assert 'id="h-funnel"' not in html
    assert "women among participants" not in html
    assert "Participants" not in html and "Waitlisted" not in html
    # The stage is live and exact: five women who agreed to be counted on stage.
    stage = html.split('id="h-stage"')[1].split("</section>")[0]
    assert f'<th scope="row">Speakers</th>{cells(on_stage(woman=5))}' in stage
    assert not Release.objects.exists()
    # Nor do the cluster's pages count it before its release.
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    dashboard = client_for(organiser).get(
        reverse("insights:dashboard", args=[cluster.slug]) + f"?end={until}"
    )
    assert dashboard.status_code == 200
    assert "1 event of this selection is not in the registration figures yet" in dashboard.text
    assert not Release.objects.filter(event=event).exists()


def test_a_release_once_drawn_never_changes(default_privacy, client_for, cluster, organiser):
    event = past_event(cluster, days_ago=10)
    register(event, G.WOMAN, 12)
    register(event, G.MAN, 14)
    client = client_for(organiser)
    url = reverse("insights:event", args=[event.slug])
    csv_url = reverse("insights:csv", args=[cluster.slug])

    def funnel(html: str) -> str:
        # The table (the chart's element ids differ from one rendering to the next).
        return html.split('id="h-funnel"')[1].split("</figure>")[1].split("</section>")[0]

    def kind_rows(text: str) -> list[list[str]]:
        return [r for r in csv.reader(io.StringIO(text)) if r and r[0] == "kind"]

    first = client.get(url).text
    assert '<th scope="row">Participants</th>' in funnel(first)
    first_csv = kind_rows(client.get(csv_url).content.decode("utf-8-sig"))
    [release] = Release.objects.filter(event=event)
    assert release.sigma == 3.3

    register(event, G.WOMAN, 5)  # late registrations, after the release
    register(event, G.MAN, 5, status=Registration.Status.ATTENDED)

    again = client.get(url).text
    assert funnel(again) == funnel(first)
    assert kind_rows(client.get(csv_url).content.decode("utf-8-sig")) == first_csv
    assert list(Release.objects.filter(event=event)) == [release]
