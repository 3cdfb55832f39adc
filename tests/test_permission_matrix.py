"""The permission matrix: every URL pattern of the site, opened by five roles, answers what
its access policy says.

Every pattern (ours, allauth's, the admin's and the API's, found by walking the URL
resolver) has an entry in EXPECTED naming its policy; a policy says what each role gets:
anonymous, a member of another cluster, an organiser of another cluster, an organiser of
the cluster the page's objects belong to, and staff. The objects in the URLs are cluster
A's (tests/matrix_world.py): a members-only event, a mentoring programme, a member's
profile, a target member's match and registrations, a brokerage day with its participants'
offers and meetings; no role owns any of them (the participant Quentin opens his own
pages in test_a_participant_opens_the_participants_pages).

The entries were written from each view's permission code, not recorded from its
answers. A new pattern without an entry, or an entry that names no pattern, fails
`test_every_url_pattern_has_an_entry`: decide its policy when you add the page.
"""

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image

from events.models import Registration
from tests.matrix_world import HIDDEN_PARTICIPANT, World, build_world, fillings
from tests.routes import route_names, substitute

pytestmark = pytest.mark.django_db

ROLES = {
    "anonymous": "anonymous",
    "other_member": "a member of another cluster",
    "other_organiser": "an organiser of another cluster",
    "organiser": "an organiser of the cluster",
    "staff": "staff",
}

# --- outcomes ----------------------------------------------------------------------------

OK = "200"
CREATED = "201"
FORBIDDEN = "403"
NOT_FOUND = "404"
CONFLICT = "409"
LOGIN = "redirect to sign in"
REDIRECT = "redirect"  # anywhere but a sign-in page
# The API without credentials: a challenge that says how to authenticate.
NO_CREDENTIALS = "401 with WWW-Authenticate: Token"


def outcome(response) -> str:
    if response.status_code in (301, 302, 303, 307, 308):
        target = urlsplit(response["Location"]).path
        return LOGIN if target in {reverse("account_login"), reverse("admin:login")} else REDIRECT
    if response.status_code == 401 and response.get("WWW-Authenticate", "").startswith("Token"):
        return NO_CREDENTIALS
    return str(response.status_code)


# --- policies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What each role gets from a pattern, and how the pattern is asked."""

    name: str
    anonymous: str
    other_member: str
    other_organiser: str
    organiser: str
    staff: str
    method: str = "GET"
    query: str = ""  # a query string the pattern needs to answer at all
    # POST form data, from the world (ids of objects the form names).
    data: Callable[[World], dict] = field(default=lambda world: {}, compare=False)

    def expected(self, role: str) -> str:
        return getattr(self, role)

    def but(self, why: str, **outcomes: str) -> "Policy":
        """A special case of this policy; `why` says what makes it special."""
        return replace(self, name=f"{self.name}, but {why}", **outcomes)

    def posted(self, done: str = REDIRECT, data=None) -> "Policy":
        """The same policy for a POST-only pattern: an allowed role's POST is `done`."""
        changed = {role: done for role in ROLES if self.expected(role) == OK}
        return replace(
            self, name=f"{self.name} (POST)", method="POST", data=data or self.data, **changed
        )


PUBLIC = Policy("PUBLIC", OK, OK, OK, OK, OK)
SIGNED_IN = Policy("SIGNED_IN", LOGIN, OK, OK, OK, OK)
# The signed token in the address is the credential (a link mailed to one person).
CAPABILITY = Policy("CAPABILITY", OK, OK, OK, OK, OK)
# allauth's pages for signing in or up: a signed-in person is sent on.
SIGNED_OUT = Policy("SIGNED_OUT", OK, REDIRECT, REDIRECT, REDIRECT, REDIRECT)
# A later step of a sign-in under way: without one, back to the sign-in (or on, if signed in).
SIGN_IN_STEP = Policy("SIGN_IN_STEP", LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT)
# Members-only content of the cluster behind a sign-in.
CLUSTER_MEMBERS = Policy("CLUSTER_MEMBERS", LOGIN, NOT_FOUND, NOT_FOUND, OK, OK)
# The same content on a page that needs no sign-in (public events are on it too): 404.
CLUSTER_MEMBERS_OPEN = Policy("CLUSTER_MEMBERS_OPEN", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK)
# The cluster's organisers' pages (staff manage every cluster).
CLUSTER_ORGANISERS = Policy("CLUSTER_ORGANISERS", LOGIN, NOT_FOUND, NOT_FOUND, OK, OK)
# Pages of anyone who organises some cluster (what they see is their own clusters').
ANY_ORGANISER = Policy("ANY_ORGANISER", LOGIN, NOT_FOUND, OK, OK, OK)
# A person's own records (a target member's): nobody else, organisers and staff included.
OWNER_ONLY = Policy("OWNER_ONLY", LOGIN, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND)
# An import's progress and result: for the organiser who started it (in the world, a
# co-organiser of the cluster: not the role) and staff.
IMPORT_STARTER = Policy("IMPORT_STARTER", LOGIN, NOT_FOUND, NOT_FOUND, NOT_FOUND, OK)
STAFF_ONLY = Policy("STAFF_ONLY", LOGIN, LOGIN, LOGIN, LOGIN, OK)
API_PUBLIC = Policy("API_PUBLIC", OK, OK, OK, OK, OK)
API_SIGNED_IN = Policy("API_SIGNED_IN", NO_CREDENTIALS, OK, OK, OK, OK)
API_CLUSTER_MEMBERS = Policy("API_CLUSTER_MEMBERS", NO_CREDENTIALS, NOT_FOUND, NOT_FOUND, OK, OK)
# A brokerage day's pages of one's own participation (A's members-only day): for people
# with a seat on it, which none of the roles has (Quentin has: see
# test_a_participant_opens_the_participants_pages). Whoever may see the day but has no
# seat, its organisers and staff too, is refused; whoever may not see it gets a 404.
PARTICIPANTS = Policy("PARTICIPANTS", LOGIN, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN)
# The marketplace: the day's participants, and its organisers and staff, read-only.
PARTICIPANTS_AND_MANAGERS = Policy("PARTICIPANTS_AND_MANAGERS", LOGIN, NOT_FOUND, NOT_FOUND, OK, OK)
# The participant's agenda and requests in the API: nobody else, organisers included.
API_PARTICIPANTS = Policy(
    "API_PARTICIPANTS", NO_CREDENTIALS, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND
)


def admin_model(app_model: str, *, add: bool = True, delete: bool = True) -> dict[str, Policy]:
    """The six patterns of a ModelAdmin; staff are superusers, so only the admin's own
    `has_add_permission`/`has_delete_permission` refuse them (403)."""
    app, model = app_model.split(".")
    refused = STAFF_ONLY.but("the admin allows no adding or deleting", staff=FORBIDDEN)
    return {
        f"admin:{app}_{model}_changelist": STAFF_ONLY,
        f"admin:{app}_{model}_add": STAFF_ONLY if add else refused,
        f"admin:{app}_{model}_history": STAFF_ONLY,
        f"admin:{app}_{model}_delete": STAFF_ONLY if delete else refused,
        f"admin:{app}_{model}_change": STAFF_ONLY,  # a view-only page where changing is off
        f"admin/{app}/{model}/<path:object_id>/": STAFF_ONLY.but(
            "it sends staff on to the change page", staff=REDIRECT
        ),
    }


def _run(world: World) -> dict:
    return {"run": world.brokerage.run.pk}


def _pair_rule(world: World) -> dict:
    """A rule form naming two applications of the programme (else any role gets a 404)."""
    return {"mentor": world.match.mentor_id, "mentee": world.match.mentee_id, "kind": "lock"}


EXPECTED: dict[str, Policy] = {
    # --- members ---
    "home": PUBLIC,
    # The language switcher: everyone may choose; it sends them back where they were.
    "set_language": PUBLIC.posted(data=lambda world: {"language": "de", "next": "/"}),
    "members:directory": SIGNED_IN,
    "members:profile_detail": CLUSTER_MEMBERS,
    "members:profile_photo": CLUSTER_MEMBERS,
    "members:me": SIGNED_IN,
    "members:profile_edit": SIGNED_IN,
    "members:gender_edit": SIGNED_IN,
    "members:data_export": SIGNED_IN,
    "members:account_delete": SIGNED_IN,
    "members:api_token": SIGNED_IN,
    "members:message_preferences": SIGNED_IN,
    "members:unsubscribe": CAPABILITY,
    "members:organisation_list": SIGNED_IN,
    # An organisation's page is for every signed-in person; its people are filtered.
    "members:organisation_detail": SIGNED_IN,
    "members:cluster_list": SIGNED_IN,
    "members:cluster_detail": SIGNED_IN,
    "members:cluster_manage": CLUSTER_ORGANISERS,
    "members:cluster_memberships": CLUSTER_ORGANISERS,
    "members:cluster_import": CLUSTER_ORGANISERS,
    "members:cluster_import_job": IMPORT_STARTER,
    "members:my_organisation": SIGNED_IN,
    # The requests of the organisations one answers for (an organiser of B: Borg's).
    "members:membership_requests": ANY_ORGANISER,
    "members:organisation_people": CLUSTER_ORGANISERS,
    # Writing to a member whose profile one may see. Quentin takes messages from his
    # clusters only: A's organiser may write; staff share no cluster with him (the page
    # says so, 403).
    "members:contact_send": CLUSTER_MEMBERS.but(
        "the profile takes messages from its clusters only", staff=FORBIDDEN
    ),
    # The report link of a message: its recipient's (Quentin's) alone.
    "members:contact_report": OWNER_ONLY,
    "members:contact_reports": CLUSTER_ORGANISERS,
    # --- events ---
    "events:list": PUBLIC,
    "events:my_events": SIGNED_IN,
    "events:detail": CLUSTER_MEMBERS_OPEN,
    "events:timetable": CLUSTER_MEMBERS_OPEN,
    "events:calendar": CLUSTER_MEMBERS_OPEN,
    # One-click registration: a POST; anonymous people see the event first (404 here).
    "events:register": CLUSTER_MEMBERS_OPEN.posted(),
    "events:cancel": CLUSTER_MEMBERS_OPEN.posted(),
    "events:session_register": CLUSTER_MEMBERS_OPEN.posted(),
    "events:session_cancel": CLUSTER_MEMBERS_OPEN.posted(),
    "events:invitation": OWNER_ONLY,
    "events:my_qr": OWNER_ONLY,
    "events:feeds": SIGNED_IN,
    "events:feed_personal": CAPABILITY,
    "events:feed_cluster": PUBLIC,  # the cluster's public events only
    "events:rsvp": CAPABILITY,
    "events:create": ANY_ORGANISER,
    "events:edit": CLUSTER_ORGANISERS,
    "events:publish": CLUSTER_ORGANISERS.posted(),
    "events:duplicate": CLUSTER_ORGANISERS.posted(),
    "events:cancel_event": CLUSTER_ORGANISERS,
    "events:session_create": CLUSTER_ORGANISERS,
    "events:session_edit": CLUSTER_ORGANISERS,
    "events:session_cancel_organiser": CLUSTER_ORGANISERS,
    "events:stage": CLUSTER_ORGANISERS,
    "events:dashboard": CLUSTER_ORGANISERS,
    "events:export_csv": CLUSTER_ORGANISERS,
    "events:checkin": CLUSTER_ORGANISERS,
    "events:checkin_scan": CLUSTER_ORGANISERS,
    "events:attendance_import": CLUSTER_ORGANISERS,
    "events:attendance_import_job": IMPORT_STARTER,
    "events:invitations": CLUSTER_ORGANISERS,
    "events:campaigns": CLUSTER_ORGANISERS,
    "events:campaign_create": CLUSTER_ORGANISERS,
    "events:campaign_detail": CLUSTER_ORGANISERS,
    # --- insights (gender-balance figures) ---
    "insights:event": CLUSTER_ORGANISERS,
    "insights:event_report": CLUSTER_ORGANISERS,
    "insights:dashboard": CLUSTER_ORGANISERS,
    "insights:csv": CLUSTER_ORGANISERS,
    "insights:year_report": CLUSTER_ORGANISERS,
    "insights:programme": CLUSTER_ORGANISERS,
    "insights:brokerage": CLUSTER_ORGANISERS,
    # --- brokerage days (A's members-only day) ---
    # The day's start page: everyone who may see the day (without a seat: how to get one).
    "brokerage:home": CLUSTER_MEMBERS,
    "brokerage:join": PARTICIPANTS.posted(),
    "brokerage:profile_edit": PARTICIPANTS,
    "brokerage:items": PARTICIPANTS,
    "brokerage:item_edit": PARTICIPANTS,
    "brokerage:item_delete": PARTICIPANTS.posted(),
    "brokerage:marketplace": PARTICIPANTS_AND_MANAGERS,
    "brokerage:participant_detail": PARTICIPANTS_AND_MANAGERS,
    "brokerage:request_new": PARTICIPANTS,
    "brokerage:requests": PARTICIPANTS,
    "brokerage:recommendations": PARTICIPANTS,
    "brokerage:agenda": PARTICIPANTS,
    "brokerage:agenda_print": PARTICIPANTS,
    "brokerage:agenda_ics": PARTICIPANTS,
    # A meeting (Quentin and Mirela's): its two sides' alone, organisers and staff too.
    "brokerage:meeting_detail": OWNER_ONLY,
    "brokerage:request_answer": OWNER_ONLY.posted(),
    "brokerage:meeting_cancel": OWNER_ONLY.posted(),
    "brokerage:meeting_feedback": OWNER_ONLY.posted(),
    # The day's organisers' pages.
    "brokerage:manage": CLUSTER_ORGANISERS,
    "brokerage:manage_blocks": CLUSTER_ORGANISERS,
    "brokerage:manage_block_create": CLUSTER_ORGANISERS,
    "brokerage:manage_block_edit": CLUSTER_ORGANISERS,
    "brokerage:manage_block_delete": CLUSTER_ORGANISERS.posted(),
    "brokerage:manage_slot_break": CLUSTER_ORGANISERS.posted(data=lambda world: {"is_break": "1"}),
    "brokerage:manage_tables": CLUSTER_ORGANISERS,
    "brokerage:manage_table_create": CLUSTER_ORGANISERS,
    "brokerage:manage_tables_numbered": CLUSTER_ORGANISERS,
    "brokerage:manage_table_edit": CLUSTER_ORGANISERS,
    "brokerage:manage_table_delete": CLUSTER_ORGANISERS.posted(),
    "brokerage:manage_schedule": CLUSTER_ORGANISERS,
    "brokerage:manage_schedule_run": CLUSTER_ORGANISERS.posted(),
    "brokerage:manage_schedule_publish": CLUSTER_ORGANISERS.posted(data=_run),
    "brokerage:manage_table_plan": CLUSTER_ORGANISERS,
    "brokerage:manage_checkin": CLUSTER_ORGANISERS,
    "brokerage:manage_checkin_meeting": CLUSTER_ORGANISERS.posted(),
    "brokerage:manage_funnel": CLUSTER_ORGANISERS,
    # --- mentoring ---
    "matchmaking:programme_list": SIGNED_IN,
    "matchmaking:my_mentoring": SIGNED_IN,
    "matchmaking:programme_detail": CLUSTER_MEMBERS,
    "matchmaking:apply": CLUSTER_MEMBERS.but(
        "staff belong to no cluster, so they are sent back to the programme", staff=REDIRECT
    ),
    "matchmaking:application_withdraw": OWNER_ONLY.posted(),
    "matchmaking:match_detail": OWNER_ONLY,
    "matchmaking:match_respond": OWNER_ONLY.posted(),
    "matchmaking:meeting_log": OWNER_ONLY.posted(),
    "matchmaking:match_goals": OWNER_ONLY.posted(),
    "matchmaking:match_end": OWNER_ONLY.posted(),
    "matchmaking:match_feedback": OWNER_ONLY.posted(),
    # The programmes one manages: an empty list for those who manage none.
    "matchmaking:manage_list": SIGNED_IN,
    "matchmaking:programme_create": ANY_ORGANISER,
    "matchmaking:programme_manage": CLUSTER_ORGANISERS,
    "matchmaking:programme_edit": CLUSTER_ORGANISERS,
    "matchmaking:programme_status": CLUSTER_ORGANISERS.posted(),
    "matchmaking:programme_applications": CLUSTER_ORGANISERS,
    "matchmaking:applications_approve_submitted": CLUSTER_ORGANISERS.posted(),
    "matchmaking:application_review": CLUSTER_ORGANISERS.posted(),
    "matchmaking:programme_matching": CLUSTER_ORGANISERS,
    "matchmaking:matching_run": CLUSTER_ORGANISERS.posted(),
    "matchmaking:matching_publish": CLUSTER_ORGANISERS.posted(),
    "matchmaking:pair_rule_set": CLUSTER_ORGANISERS.posted(data=_pair_rule),
    "matchmaking:pair_rule_remove": CLUSTER_ORGANISERS.posted(),
    "matchmaking:organiser_match_end": CLUSTER_ORGANISERS,
    # --- the API ---
    "members_api:member_list": API_SIGNED_IN,
    "members_api:member_detail": API_CLUSTER_MEMBERS,
    "members_api:me": API_SIGNED_IN,
    "members_api:organisation_list": API_SIGNED_IN,
    "members_api:cluster_list": API_SIGNED_IN,
    "members_api:topic_list": API_SIGNED_IN,
    "events_api:event_list": API_PUBLIC,  # public events for everyone, more for members
    "events_api:event_detail": CLUSTER_MEMBERS_OPEN,
    "events_api:event_register": API_CLUSTER_MEMBERS.posted(done=CREATED),
    # Allowed, but none of the roles is registered: "You are not registered for this."
    "events_api:event_cancel": API_CLUSTER_MEMBERS.posted(done=CONFLICT),
    "events_api:my_registrations": API_SIGNED_IN,
    "brokerage_api:agenda": API_PARTICIPANTS,
    "brokerage_api:requests": API_PARTICIPANTS,
    "brokerage_api:request_accept": API_PARTICIPANTS.posted(),
    "brokerage_api:request_decline": API_PARTICIPANTS.posted(),
    "api_schema": API_PUBLIC,
    "api_docs": API_PUBLIC,
    # --- allauth ---
    "account_login": SIGNED_OUT,
    "account_signup": SIGNED_OUT,
    "account_logout": SIGNED_IN.but("an anonymous person is sent home", anonymous=REDIRECT),
    "account_inactive": PUBLIC,
    "account_reauthenticate": SIGNED_IN,
    "account_email": SIGNED_IN,
    "account_email_verification_sent": PUBLIC,
    "account_change_password": SIGNED_IN,
    "account_set_password": SIGNED_IN.but(
        "whoever has a password (every role) is sent to change it",
        **dict.fromkeys(["other_member", "other_organiser", "organiser", "staff"], REDIRECT),
    ),
    "account_reset_password": PUBLIC,
    "account_reset_password_done": PUBLIC,
    "account_reset_password_from_key": CAPABILITY,
    "account_reset_password_from_key_done": PUBLIC,
    "account_confirm_email": CAPABILITY,
    "account_confirm_login_code": SIGN_IN_STEP,
    # --- the admin ---
    "admin:index": STAFF_ONLY,
    # The admin's sign-in is allauth's (members/admin_auth_views.py): everyone is sent
    # there, except people signed in without admin access, who are told no.
    "admin:login": STAFF_ONLY.but(
        "signed-in people without admin access are refused",
        **dict.fromkeys(["other_member", "other_organiser", "organiser"], FORBIDDEN),
        staff=LOGIN,
    ),
    "admin:logout": STAFF_ONLY.posted(done=OK).but(
        "the admin sends whoever is not staff to its index",
        **dict.fromkeys(["anonymous", "other_member", "other_organiser", "organiser"], REDIRECT),
    ),
    "admin:password_change": STAFF_ONLY.but("staff are sent to allauth's page", staff=REDIRECT),
    "admin:password_change_done": STAFF_ONLY,
    "admin:autocomplete": replace(
        STAFF_ONLY, query="?app_label=members&model_name=clusterorganiser&field_name=user&term=o"
    ),
    "admin:jsi18n": STAFF_ONLY,
    "admin:view_on_site": STAFF_ONLY.but("it sends staff on to the object", staff=REDIRECT),
    "admin:app_list": STAFF_ONLY,
    "admin/(?P<url>.*)$": STAFF_ONLY.but("the page does not exist", staff=NOT_FOUND),
    **admin_model("members.user"),
    "admin:auth_user_password_change": STAFF_ONLY,
    **admin_model("members.profile"),
    **admin_model("members.genderidentity", add=False),
    **admin_model("members.cluster"),
    **admin_model("members.organisation"),
    **admin_model("members.affiliation", add=False),
    **admin_model("members.membershiplog", add=False),
    **admin_model("members.topic"),
    **admin_model("members.sector"),
    **admin_model("members.language"),
    **admin_model("members.clusterorganiser"),
    **admin_model("members.statisticsaccess", add=False),
    **admin_model("events.event"),
    **admin_model("events.session"),
    **admin_model("events.registration", add=False, delete=False),
    **admin_model("events.invitation"),
    **admin_model("events.stagerole"),
    **admin_model("events.calendarfeed"),
    **admin_model("matchmaking.programme"),
    **admin_model("matchmaking.application"),
    **admin_model("matchmaking.pairrule"),
    **admin_model("matchmaking.matchingrun"),
    **admin_model("matchmaking.circle"),
    **admin_model("matchmaking.match"),
    **admin_model("matchmaking.meetinglog"),
    **admin_model("matchmaking.feedback"),
    **admin_model("matchmaking.brokeragesettings"),
    **admin_model("matchmaking.meetingblock"),
    **admin_model("matchmaking.slot", add=False),
    **admin_model("matchmaking.table"),
    **admin_model("matchmaking.participant"),
    **admin_model("matchmaking.marketitem"),
    **admin_model("matchmaking.meeting", add=False),
    **admin_model("matchmaking.schedulerun", add=False),
    **admin_model("members.contactmessage", add=False),
    **admin_model("members.contactreport", add=False),
    **admin_model("auth.group"),
    **admin_model("account.emailaddress"),
    **admin_model("authtoken.tokenproxy"),
    **admin_model("notifications.outboxmessage", add=False, delete=False),
}

# Cells where the code disagrees with the policy, each reported to the lead: (entry, role).
KNOWN_WRONG: dict[tuple[str, str], str] = {}


# --- the matrix --------------------------------------------------------------------------


def entry_of(route: str, name: str | None) -> str:
    return name or route


ENTRIES = {entry_of(route, name): route for route, name in route_names().items()}
CELLS = [
    pytest.param(
        entry,
        role,
        id=f"{entry}|{role}",
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_WRONG[entry, role])]
        if (entry, role) in KNOWN_WRONG
        else [],
    )
    for entry in ENTRIES
    if entry in EXPECTED
    for role in ROLES
]


@dataclass
class Matrix:
    world: World
    sessions: dict[str, str]  # role → session key

    def client(self, role: str) -> Client:
        """A fresh client per cell: a page that signs its viewer out spoils no other cell."""
        client = Client()
        if role != "anonymous":
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return client

    def path(self, entry: str) -> str:
        route = ENTRIES[entry]
        values = fillings(route, self.world)
        assert values, f"teach fillings() in tests/matrix_world.py to fill {route}"
        return substitute(route, values[0]) + EXPECTED[entry].query


def a_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def matrix(django_db_setup, django_db_blocker, tmp_path_factory):
    """One world for all the cells, rolled back when the module is done; each cell runs in
    its own savepoint, so a POST that registers or publishes is undone after it."""
    media = tmp_path_factory.mktemp("media")
    hosts = [*settings.ALLOWED_HOSTS, "testserver"]
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media, ALLOWED_HOSTS=hosts),
        transaction.atomic(),
    ):
        world = build_world(png=a_png())
        sessions = {}
        for role in ROLES:
            if role != "anonymous":
                client = Client()
                client.force_login(world.users[role])
                sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
        yield Matrix(world, sessions)
        transaction.set_rollback(True)


@pytest.fixture
def _media_root():
    """The world's photos stay where `matrix` put them (overrides the suite's fixture)."""


def test_every_url_pattern_has_an_entry():
    missing = sorted(set(ENTRIES) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(ENTRIES))
    wrong = sorted(f"{entry} {role}" for entry, role in KNOWN_WRONG if entry not in EXPECTED)

    assert not (missing or stale or wrong), (
        "Give every URL pattern a policy in EXPECTED (tests/test_permission_matrix.py), "
        "keyed by its name or, when unnamed, its route.\n"
        + "".join(f"  no entry for {entry}   ({ENTRIES[entry]})\n" for entry in missing)
        + "".join(f"  stale entry {entry}: no such pattern\n" for entry in stale)
        + "".join(f"  KNOWN_WRONG names no entry: {cell}\n" for cell in wrong)
    )


@pytest.mark.parametrize(("entry", "role"), CELLS)
def test_each_role_gets_what_the_policy_says(matrix, entry, role):
    policy = EXPECTED[entry]
    path = matrix.path(entry)
    client = matrix.client(role)

    if policy.method == "POST":
        response = client.post(path, policy.data(matrix.world))
    else:
        response = client.get(path)

    expected = policy.expected(role)
    seen = outcome(response)
    assert seen == expected, (
        f"{policy.method} {path} ({entry}) by {ROLES[role]}: the policy {policy.name} says "
        f"{expected}, the site answered {seen} ({response.status_code} "
        f"{response.get('Location', '')})"
    )


def test_the_matrix_is_not_flat(capsys):
    entries = [entry for entry in ENTRIES if entry in EXPECTED]
    counts = Counter(EXPECTED[entry].expected(role) for entry in entries for role in ROLES)
    by_role = {role: Counter(EXPECTED[entry].expected(role) for entry in entries) for role in ROLES}
    with capsys.disabled():
        print(
            f"\npermission matrix: {len(entries)} URL patterns × {len(ROLES)} roles = "
            f"{len(entries) * len(ROLES)} cells; expected outcomes: "
            + ", ".join(f"{what}: {n}" for what, n in counts.most_common())
        )

    # Every role is both let in and kept out somewhere.
    for role, seen in by_role.items():
        assert seen[OK] > 0, role
        assert sum(seen.values()) - seen[OK] > 0, role
    assert by_role["organiser"][OK] > by_role["other_organiser"][OK]
    assert by_role["other_organiser"][OK] > by_role["other_member"][OK]
    assert by_role["staff"][OK] > by_role["organiser"][OK]


# --- a participant of the brokerage day ---------------------------------------------------

# What Quentin gets, a participant of A's brokerage day and a side of both its meetings,
# where the five roles are refused: (outcome, POST data). The first filling of each route
# is his (his offer, the pending request he received) or Mirela's (her page).
PARTICIPANT_GETS: dict[str, tuple[str, dict]] = {
    "brokerage:home": (OK, {}),
    "brokerage:join": (REDIRECT, {}),  # joined already: on to his profile
    "brokerage:profile_edit": (OK, {}),
    "brokerage:items": (OK, {}),
    "brokerage:item_edit": (OK, {}),
    "brokerage:item_delete": (REDIRECT, {}),
    "brokerage:marketplace": (OK, {}),
    "brokerage:participant_detail": (OK, {}),
    "brokerage:request_new": (OK, {}),
    "brokerage:requests": (OK, {}),
    "brokerage:recommendations": (OK, {}),
    "brokerage:agenda": (OK, {}),
    "brokerage:agenda_print": (OK, {}),
    "brokerage:agenda_ics": (OK, {}),
    "brokerage:meeting_detail": (OK, {}),
    "brokerage:request_answer": (REDIRECT, {"action": "decline"}),
    "brokerage:meeting_cancel": (REDIRECT, {}),
    # Allowed, but the meeting is ahead (and pending): the page says why not yet, 400.
    "brokerage:meeting_feedback": ("400", {"held": "yes", "follow_up": "yes"}),
    "brokerage_api:agenda": (OK, {}),
    "brokerage_api:requests": (OK, {}),
    "brokerage_api:request_accept": (OK, {}),
    "brokerage_api:request_decline": (OK, {}),
}


@pytest.mark.parametrize("entry", sorted(PARTICIPANT_GETS))
def test_a_participant_opens_the_participants_pages(matrix, entry):
    if entry not in ENTRIES:
        pytest.skip(f"{entry} is not a URL pattern yet")
    expected, data = PARTICIPANT_GETS[entry]
    client = Client()
    client.force_login(matrix.world.participant)
    path = matrix.path(entry)

    posted = EXPECTED[entry].method == "POST"
    response = client.post(path, data) if posted else client.get(path)

    seen = outcome(response)
    assert seen == expected, f"{EXPECTED[entry].method} {path} ({entry}) by Quentin: {seen}"


def test_a_hidden_participant_stays_hidden_in_the_marketplace(matrix):
    """Hedda (hidden from the directory) takes part; her page is nobody's to open, and no
    list of participants or suggestions names her, to a participant or to an organiser."""
    day = matrix.world.brokerage
    hedda = day.participants[2]
    quentin = Client()
    quentin.force_login(matrix.world.participant)
    organiser = matrix.client("organiser")
    slug = day.event.slug

    for client in (quentin, organiser):
        assert client.get(f"/networking/{slug}/people/{hedda.pk}/").status_code == 404
        for page in ("marketplace/", "marketplace/?q=Hedda", "suggestions/"):
            response = client.get(f"/networking/{slug}/{page}")
            assert HIDDEN_PARTICIPANT not in response.content.decode(), page
    # What she offers is not found under anyone else's name either.
    assert "Test bench time" not in quentin.get(f"/networking/{slug}/marketplace/").content.decode()


def test_a_participant_who_gave_up_their_seat_no_longer_sees_the_marketplace(matrix):
    """The seat is what lets one in, not the participant row left from before."""
    day = matrix.world.brokerage
    quentin = matrix.world.participant
    Registration.objects.filter(event=day.event, user=quentin).update(
        status=Registration.Status.CANCELLED
    )
    client = Client()
    client.force_login(quentin)
    slug = day.event.slug

    for page in ("marketplace/", "agenda/", "requests/", f"people/{day.participants[1].pk}/"):
        assert client.get(f"/networking/{slug}/{page}").status_code == 403, page
    assert client.get(f"/api/v1/brokerage/{slug}/agenda/").status_code == 404
