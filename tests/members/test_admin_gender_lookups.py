"""The admin refuses gender: no lookup, search, ordering, column, filter or form field.

Every admin registered on the site, third-party ones included, is asked for every URL
lookup on a gender field that its model reaches through relations (up to three hops:
`/admin/members/profile/?user__gender_identity__gender=man`,
`/admin/matchmaking/match/?mentee__preferred_mentor_gender=woman`), by a superuser and
by a staff user who holds every permission, on a database of people of every gender and
consent. A refused lookup answers 400 as Django does for any disallowed lookup; a
filtered list would be a leak. The fields are those of `members.privacy.GENDER_FIELDS`.
"""

import logging
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.auth.models import Group, Permission
from django.db.models import BooleanField, DateTimeField, F
from django.test import RequestFactory
from django.urls import resolve
from django.utils import timezone
from rest_framework.authtoken.models import Token

from events.models import CalendarFeed, Invitation, StageRole
from matchmaking.models import Circle, Feedback, Match, MatchingRun, MeetingLog, PairRule
from members import privacy
from members.admin import GenderSafeAdmin, gender_admin_errors, reaches_gender
from members.models import ClusterOrganiser, GenderIdentity, MembershipLog, StatisticsAccess
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory, RegistrationFactory, SessionFactory
from tests.factories import ProfileFactory, StaffFactory
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, topic

pytestmark = pytest.mark.django_db

SELF_DESCRIPTION = "Quasar"
# A gender's value or label, in any spelling the admin could print it.
GENDER_WORDS = re.compile(
    r"\b(?:woman|(?<!Isle of )man|non[_ -]binary|self[_ -]describ\w*|undisclosed"
    r"|prefer not to say)\b|" + SELF_DESCRIPTION,
    re.IGNORECASE,
)
SEARCHES = [SELF_DESCRIPTION, "non_binary", "Non-binary", "woman"]
VIEWERS = ["superuser", "staff with every permission"]
REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MAX_HOPS = 3
# Fields named for gender or consent that say nothing about a person, with the reason.
NOT_A_PERSONS_GENDER = {
    ("matchmaking.Programme", "allow_mentor_gender_preference"): "a programme's setting",
}


def gender_paths(model, hops: int = MAX_HOPS) -> list[tuple[str, object]]:
    """Every lookup path from `model` onto a gender field through at most `hops`
    relations, forward and reverse, that visits no model twice (a path back through a
    model already on it reaches the same fields by a longer way)."""
    found = []

    def walk(model, prefix: list[str], seen: set) -> None:
        for field in model._meta.get_fields():
            path = [*prefix, field.name]
            if (field.model._meta.label, field.name) in privacy.GENDER_FIELDS:
                found.append(("__".join(path), field))
            elif field.related_model not in (None, *seen) and len(prefix) < hops:
                walk(field.related_model, path, seen | {field.related_model})

    walk(model, [], {model})
    return found


def lookups_on(path: str, field) -> list[tuple[str, str]]:
    """URL lookups on a gender field, each with a value valid for its type: a refusal must
    come from the guard, not from a value Django cannot parse."""
    if isinstance(field, BooleanField):
        tried = [(path, "1"), (f"{path}__exact", "0"), (f"{path}__exact", "1")]
        tried.append((f"{path}__in", "0,1"))
    elif isinstance(field, DateTimeField):
        tried = [(f"{path}__gte", "2000-01-01"), (f"{path}__year", str(timezone.now().year))]
    else:
        tried = [(path, "woman"), (f"{path}__exact", "non_binary")]
        tried += [(f"{path}__startswith", "Q"), (f"{path}__in", "woman,non_binary,man")]
    return [*tried, (f"{path}__isnull", "True")]


def changelist_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


# --- a database of people of every gender and consent -----------------------------------


@pytest.fixture
def people(cluster, organisation) -> dict:
    def person(name: str, gender: str, consent: bool, *, words: str = "", stage=False):
        profile = ProfileFactory(display_name=name, organisation=organisation)
        privacy.gender_set(
            user=profile.user,
            gender=gender,
            self_description=words,
            statistics_consent=consent,
        )
        GenderIdentity.objects.filter(user=profile.user).update(stage_consent=stage)
        return profile

    crowd = {
        "quinn": person("Quinn Quell", "self_described", True, words=SELF_DESCRIPTION, stage=True),
        "wanda": person("Wanda Vale", "woman", False),
        "mo": person("Moritz Berg", "man", True, stage=True),
        "nico": person("Nico Sand", "non_binary", True, stage=True),
        "uli": person("Uli Stein", "undisclosed", False),
    }
    users = {name: profile.user for name, profile in crowd.items()}

    event = EventFactory(title="Automation Days", clusters=[cluster])
    session = SessionFactory(event=event, title="Shop floor panel")
    StageRole.objects.create(event=event, session=session, role="panellist", profile=crowd["quinn"])
    StageRole.objects.create(event=event, session=session, role="moderator", profile=crowd["mo"])
    StageRole.objects.create(
        event=event, session=session, role="panellist", guest_name="Greta Gast",
        guest_organisation="Guest Institute", guest_gender="non_binary", guest_gender_consent=True,
    )  # fmt: skip
    StageRole.objects.create(event=event, role="speaker", guest_name="Kira Keynote")
    for user in users.values():
        RegistrationFactory(event=event, user=user)
    Invitation.objects.create(event=event, email=users["quinn"].email)
    CalendarFeed.objects.create(user=users["quinn"])
    Token.objects.create(user=users["nico"])

    programme = ProgrammeFactory(
        title="Leadership mentoring", clusters=[cluster], allow_mentor_gender_preference=True
    )
    mentor = ApplicationFactory(
        programme=programme, user=users["wanda"], role="mentor", gender_may_be_matched=True
    )
    ApplicationFactory(programme=programme, user=users["mo"], role="mentor")
    mentee = ApplicationFactory(
        programme=programme,
        user=users["quinn"],
        preferred_mentor_gender="non_binary",
        topics=[topic("Leadership")],
    )
    ApplicationFactory(programme=programme, user=users["nico"], preferred_mentor_gender="woman")
    ApplicationFactory(programme=programme, user=users["uli"])
    PairRule.objects.create(programme=programme, mentor=mentor, mentee=mentee, kind="lock")
    run = MatchingRun.objects.create(programme=programme, created_by=users["mo"], placed=1)
    circle = Circle.objects.create(programme=programme, mentor=mentor, name="Leaders", event=event)
    match = Match.objects.create(
        programme=programme, run=run, mentor=mentor, mentee=mentee, circle=circle, score=80
    )
    MeetingLog.objects.create(match=match, met_on=timezone.localdate(), logged_by=users["quinn"])
    Feedback.objects.create(match=match, author=users["quinn"], rating=5, comment="Helpful.")

    ClusterOrganiser.objects.create(cluster=cluster, user=users["nico"])
    StatisticsAccess.objects.create(user=users["mo"], cluster=cluster, view="balance_dashboard")
    MembershipLog.objects.create(
        action="confirmed", actor=users["nico"], person=users["quinn"], organisation=organisation
    )
    Group.objects.create(name="Editors").user_set.set([users["quinn"], users["wanda"]])
    OutboxMessage.objects.create(
        recipient=users["quinn"].email, kind="events.registration", subject="See you there",
        body_text="Registered.", from_email="hub@example.org", message_id="<1@example.org>",
    )  # fmt: skip
    a_brokerage_day_and_a_reported_message(cluster, users)
    return {"users": users, "event": event, "mentor": mentor, "mentee": mentee}


def a_brokerage_day_and_a_reported_message(cluster, users: dict) -> None:
    """Quinn and Wanda at a brokerage day with offers, a placed meeting and a scheduler
    run; Wanda wrote to Quinn, who reported it: every admin of those models has rows."""
    from matchmaking.brokerage.models import Meeting
    from members import contact
    from tests.matchmaking.brokerage.factories import (
        BrokerageEventFactory,
        MarketItemFactory,
        MeetingFactory,
        ParticipantFactory,
        ScheduleRunFactory,
    )

    day = BrokerageEventFactory(title="Matchmaking Day", clusters=[cluster])
    quinn = ParticipantFactory(event=day, user=users["quinn"])
    wanda = ParticipantFactory(event=day, user=users["wanda"])
    MarketItemFactory(participant=quinn, title="Grippers wanted", direction="request")
    MarketItemFactory(participant=wanda, title="Gripper design")
    MeetingFactory(
        requester=quinn,
        recipient=wanda,
        status=Meeting.Status.ACCEPTED,
        slot=day.meeting_slots.first(),
        table=day.meeting_tables.first(),
        published_at=timezone.now(),
    )
    ScheduleRunFactory(event=day, started_by=users["nico"])
    message = contact.contact_send(
        sender=users["wanda"],
        recipient_profile=users["quinn"].profile,
        subject="Your panel",
        body="Shall we talk?",
    )
    contact.contact_report(message=message, by=users["quinn"], reason="other", details="Odd.")


@pytest.fixture
def viewers(db) -> dict:
    superuser = StaffFactory(email="root@example.org")
    staff = StaffFactory(email="clerk@example.org", is_superuser=False)
    staff.user_permissions.set(Permission.objects.all())
    return {"superuser": superuser, "staff with every permission": staff}


@pytest.fixture
def clients(viewers, client_for) -> dict:
    return {kind: client_for(user) for kind, user in viewers.items()}


@pytest.fixture(params=VIEWERS)
def viewer(request, clients):
    return clients[request.param]


# --- the guard is on every admin --------------------------------------------------------


def test_every_admin_of_the_site_is_guarded_third_party_ones_too():
    labels = {model._meta.label for model, _ in REGISTRY}

    # allauth's addresses, DRF's tokens and auth's groups all reach a user's gender record.
    assert {"account.EmailAddress", "authtoken.TokenProxy", "auth.Group"} <= labels
    for model, model_admin in REGISTRY:
        assert isinstance(model_admin, GenderSafeAdmin), model._meta.label
    assert gender_admin_errors(admin.site) == []


def test_the_paths_walked_reach_every_gender_field_and_the_examples_of_the_issue():
    reached = {
        (field.model._meta.label, field.name)
        for model, _ in REGISTRY
        for _, field in gender_paths(model)
    }
    paths = {(model._meta.label, path) for model, _ in REGISTRY for path, _ in gender_paths(model)}

    # The tallies have no admin, and no relation of theirs can be walked (related_name="+").
    assert reached == privacy.GENDER_FIELDS - {("events.RegistrationTally", "category")}
    assert {
        ("members.User", "gender_identity__gender"),
        ("members.Profile", "user__gender_identity__gender"),
        ("events.StageRole", "profile__user__gender_identity__statistics_consent"),
        ("matchmaking.Match", "mentee__preferred_mentor_gender"),
        ("account.EmailAddress", "user__gender_identity__gender"),
        ("members.GenderIdentity", "self_description"),
    } <= paths


def test_every_field_named_for_gender_is_a_protected_one():
    """A new gender field in any model must join privacy.GENDER_FIELDS to be guarded."""
    from django.apps import apps

    named = {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if "gender" in field.name or "consent" in field.name
    }

    assert named - privacy.GENDER_FIELDS == set(NOT_A_PERSONS_GENDER)


# --- URL lookups ------------------------------------------------------------------------


def changelist(user, url: str, params: dict):
    """The admin's ChangeList for `url?params` as `user` sees it (from its view function,
    as `answer` below, and not rendered: the list is what is compared)."""
    request = RequestFactory().get(url, params)
    request.user = user
    match = resolve(url)
    response = match.func(request, *match.args, **match.kwargs)
    assert response.status_code == 200, (url, params, response.status_code)
    return response.context_data["cl"]


def answer(user, url: str, params: dict) -> int:
    """The status of the admin's answer to `url?params` for `user`, from its view function
    without the middleware: thousands of these run, and sessions, authentication and the
    other middleware take most of a request's time (`test_..._over_http` sends the
    shallow ones through all of it). DisallowedModelAdminLookup is what Django's handler
    turns into a 400."""
    request = RequestFactory().get(url, params)
    request.user = user
    match = resolve(url)
    try:
        return match.func(request, *match.args, **match.kwargs).status_code
    except DisallowedModelAdminLookup:
        return 400


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTRY, ids=[model._meta.label for model, _ in REGISTRY]
)
def test_every_lookup_that_reaches_gender_is_refused(people, viewers, model, model_admin):
    url = changelist_url(model)
    answered = {}

    for kind, user in viewers.items():
        assert answer(user, url, {}) == 200, kind  # they may see the list: a refusal is one
        for path, field in gender_paths(model):
            for lookup, value in lookups_on(path, field):
                status = answer(user, url, {lookup: value})
                if status != 400:
                    answered[f"{kind}: {url}?{lookup}={value}"] = status

    assert not answered, answered


# The issue's examples, beyond the lookups of one hop that the test below tries as well.
ISSUE_EXAMPLES = [
    "/admin/members/genderidentity/?gender=non_binary",
    "/admin/members/genderidentity/?self_description__startswith=Q",
    "/admin/members/genderidentity/?statistics_consent__exact=0",
    "/admin/members/user/?gender_identity__gender=woman",
    "/admin/members/profile/?user__gender_identity__gender=man",
    "/admin/events/stagerole/?profile__user__gender_identity__statistics_consent=1",
    "/admin/matchmaking/match/?mentee__preferred_mentor_gender=woman",
    "/admin/account/emailaddress/?user__gender_identity__gender=woman",
]


def test_a_refused_lookup_answers_400_over_http(people, clients, caplog):
    # Django logs every refusal with its traceback; hundreds of them only slow the test.
    caplog.set_level(logging.CRITICAL, logger="django.security")
    urls = list(ISSUE_EXAMPLES)
    for model, _ in REGISTRY:
        for path, field in gender_paths(model, hops=1):
            urls += [f"{changelist_url(model)}?{k}={v}" for k, v in lookups_on(path, field)]
    answered = {}

    for kind, client in clients.items():
        for url in urls:
            status = client.get(url).status_code
            if status != 400:
                answered[f"{kind}: {url}"] = status

    assert not answered, answered
    # The answer Django gives any lookup it refuses, e.g. across a relation not filtered on.
    for client in clients.values():
        assert client.get("/admin/members/profile/?user__password=x").status_code == 400


# --- search and ordering ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTRY, ids=[model._meta.label for model, _ in REGISTRY]
)
def test_searching_or_sorting_by_gender_changes_no_list(people, viewers, model, model_admin):
    url = changelist_url(model)

    def listed(user, **params) -> list:
        return [obj.pk for obj in changelist(user, url, params).result_list]

    for kind, user in viewers.items():
        # Searching for a gender word finds what a meaningless word finds.
        nothing = listed(user, q="zz-no-such-word")
        for word in SEARCHES:
            assert listed(user, q=word) == nothing, (kind, word)

        # Sorting by the column a gender would get if it were listed sorts as by a column
        # that does not exist (Django then sorts by primary key).
        cl = changelist(user, url, {})
        where = len(cl.list_display)
        for order in (f"{where}", f"-{where}"):
            assert listed(user, o=order) == listed(user, o="99"), (kind, order)
        assert listed(user, o=f"1.{where}") == listed(user, o="1"), kind
        assert not [column for column in cl.list_display if reaches_gender(model, column)]
        assert not [column for column in cl.sortable_by if reaches_gender(model, column)]


# --- pages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTRY, ids=[model._meta.label for model, _ in REGISTRY]
)
def test_no_changelist_or_change_form_shows_a_gender(people, clients, model, model_admin):
    url = changelist_url(model)
    objects = list(model._default_manager.order_by("pk")[:3])
    shown = {}

    for kind, client in clients.items():
        pages = [url, f"{url}add/", *(f"{url}{obj.pk}/change/" for obj in objects)]
        for page_url in pages:
            response = client.get(page_url)
            assert response.status_code in (200, 403), page_url  # 403: no add on read-only
            found = GENDER_WORDS.findall(response.content.decode())
            if found:
                shown[f"{kind}: {page_url}"] = sorted(set(found))

    assert not shown, shown
    assert objects, "no change form was opened"


# --- change forms -----------------------------------------------------------------------


class FormValues(HTMLParser):
    """What a browser submits for the admin's change form, as a list of (name, value)."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._in_form = False
        self._select: tuple[str, list[str], bool] | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._in_form = (attrs.get("id") or "").endswith("_form")
        if not self._in_form or "__prefix__" in (attrs.get("name") or ""):
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.values.append((name, attrs.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.values.append((name, attrs.get("value") or ""))
        elif tag == "select" and name:
            self._select, self._first_option = (name, [], "multiple" in attrs), None
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            self._first_option = value if self._first_option is None else self._first_option
            if "selected" in attrs:
                self._select[1].append(value)
        elif tag == "textarea" and name:
            self._textarea = name
            self.values.append((name, ""))

    def handle_data(self, data):
        if self._textarea:
            self.values[-1] = (self._textarea, self.values[-1][1] + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "textarea":
            if self._textarea:
                name, text = self.values[-1]
                self.values[-1] = (name, text.removeprefix("\n"))
            self._textarea = None
        elif tag == "select" and self._select:
            name, chosen, multiple = self._select
            if not chosen and not multiple and self._first_option is not None:
                chosen = [self._first_option]
            self.values += [(name, value) for value in chosen]
            self._select = None


def submitted(page) -> dict[str, list[str]]:
    assert page.status_code == 200
    parser = FormValues()
    parser.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in parser.values:
        data.setdefault(name, []).append(value)
    return data


def test_the_gender_record_page_shows_whose_it_is_and_changes_nothing(people, viewer):
    record = GenderIdentity.objects.get(user=people["users"]["quinn"])
    before = GenderIdentity.objects.filter(pk=record.pk).values().get()
    url = f"/admin/members/genderidentity/{record.pk}/change/"

    page = viewer.get(url).content.decode()
    for name in ("gender", "self_description", "statistics_consent", "stage_consent",
                 "consent_changed_at", "updated_at"):  # fmt: skip
        assert f'name="{name}"' not in page
        assert f"field-{name}" not in page
    assert "field-user" in page
    response = viewer.post(
        url,
        {"gender": "man", "self_description": "", "statistics_consent": "",
         "stage_consent": "", "user": people["users"]["wanda"].pk},
    )  # fmt: skip

    assert response.status_code == 403
    assert viewer.get("/admin/members/genderidentity/add/").status_code == 403
    assert GenderIdentity.objects.filter(pk=record.pk).values().get() == before


def test_an_application_form_neither_shows_nor_takes_the_gender_preference(people, viewer):
    mentee = people["mentee"]
    url = f"/admin/matchmaking/application/{mentee.pk}/change/"
    page = viewer.get(url)
    data = submitted(page)

    assert "preferred_mentor_gender" not in data and "gender_may_be_matched" not in data
    assert "availability" in data  # the form was read: the test would see a gender field
    data.update(
        availability=["Tuesday evenings"], preferred_mentor_gender=["man"],
        gender_may_be_matched=["on"],
    )  # fmt: skip
    response = viewer.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    mentee.refresh_from_db()
    assert mentee.availability == "Tuesday evenings"
    assert mentee.preferred_mentor_gender == "non_binary"
    assert mentee.gender_may_be_matched is False


def test_a_stage_role_form_neither_shows_nor_takes_a_guest_gender(people, viewer):
    guest = StageRole.objects.get(guest_name="Kira Keynote")
    url = f"/admin/events/stagerole/{guest.pk}/change/"
    data = submitted(viewer.get(url))

    assert "guest_gender" not in data and "guest_gender_consent" not in data
    assert "guest_organisation" in data
    data.update(guest_organisation=["Guest Institute"], guest_gender=["woman"])
    data["guest_gender_consent"] = ["on"]
    response = viewer.post(url, data)

    assert response.status_code == 302
    guest.refresh_from_db()
    assert guest.guest_organisation == "Guest Institute"
    assert (guest.guest_gender, guest.guest_gender_consent) == ("", False)


def test_a_stage_role_added_in_the_admin_has_no_guest_gender(people, viewer):
    data = submitted(viewer.get("/admin/events/stagerole/add/"))
    data.update(
        event=[people["event"].pk], guest_name=["Ada Added"], guest_gender=["woman"],
        guest_gender_consent=["on"],
    )  # fmt: skip

    assert viewer.post("/admin/events/stagerole/add/", data).status_code == 302
    added = StageRole.objects.get(guest_name="Ada Added")
    assert (added.guest_gender, added.guest_gender_consent) == ("", False)


def test_the_stage_roles_inline_of_an_event_neither_shows_nor_takes_a_guest_gender(people, viewer):
    event = people["event"]
    url = f"/admin/events/event/{event.pk}/change/"
    data = submitted(viewer.get(url))
    rows = int(data["stage_roles-TOTAL_FORMS"][0])

    assert rows == 4
    assert not [name for name in data if "gender" in name]
    for i in range(rows):
        data[f"stage_roles-{i}-guest_gender"] = ["man"]
        data[f"stage_roles-{i}-guest_gender_consent"] = ["on"]
        data[f"stage_roles-{i}-order"] = ["7"]
    response = viewer.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    roles = StageRole.objects.filter(event=event)
    assert set(roles.values_list("order", flat=True)) == {7}
    assert sorted(roles.values_list("guest_gender", "guest_gender_consent")) == [
        ("", False),
        ("", False),
        ("", False),
        ("non_binary", True),
    ]


# --- an admin written carelessly is still safe, and fails the check ---------------------


class CarelessGenderAdmin(GenderSafeAdmin):
    """Everything the guard is for, named at once."""

    list_display = ["__str__", "gender", "user", "stage_consent"]
    list_filter = ["gender", "statistics_consent", ("stage_consent", admin.BooleanFieldListFilter)]
    search_fields = ["self_description", "user__email"]
    ordering = ["gender", "pk"]
    date_hierarchy = "consent_changed_at"
    fields = ["user", ("gender", "self_description"), "statistics_consent"]
    readonly_fields = ["consent_changed_at"]


class CarelessStageRoleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "guest_gender"]
    list_editable = ["guest_gender"]


@pytest.fixture
def careless_site():
    site = AdminSite(name="careless")
    site.register(GenderIdentity, CarelessGenderAdmin)
    site.register(StageRole, CarelessStageRoleAdmin)
    return site


def test_an_admin_that_names_gender_fields_fails_the_system_check(careless_site):
    errors = [error.msg for error in gender_admin_errors(careless_site)]

    assert "The admin of events.StageRole is not a GenderSafeAdmin." in errors
    for named in ("list_display column 'gender'", "list_filter names 'statistics_consent'",
                  "search_fields names 'self_description'", "ordering names 'gender'",
                  "date_hierarchy names 'consent_changed_at'", "fields names 'self_description'",
                  "readonly_fields names 'consent_changed_at'",
                  "list_editable names 'guest_gender'"):  # fmt: skip
        assert any(named in error for error in errors), named


def test_an_admin_that_names_gender_fields_still_shows_sorts_and_finds_by_none(
    careless_site, viewers, people
):
    model_admin = careless_site._registry[GenderIdentity]

    def changelist(**params):
        request = RequestFactory().get("/", params)
        request.user = viewers["superuser"]
        response = model_admin.changelist_view(request)
        return response.render() if hasattr(response, "render") else response

    plain = changelist()
    rows = [obj.pk for obj in plain.context_data["cl"].result_list]

    assert plain.context_data["cl"].list_display == ["action_checkbox", "__str__", "user"]
    assert not plain.context_data["cl"].has_filters
    assert plain.context_data["cl"].date_hierarchy is None
    assert not GENDER_WORDS.search(plain.content.decode())
    assert len(rows) == 5
    for order in ("1", "-1", "2", "-2", "3", "-3", "1.3", "-3.-1"):
        ordered_by = [
            name
            for expression in changelist(o=order).context_data["cl"].queryset.query.order_by
            for name in (
                [expression]
                if isinstance(expression, str)
                else [f.name for f in expression.flatten() if isinstance(f, F)]
            )
        ]
        assert "pk" in ordered_by or "-pk" in ordered_by, order  # the names were read
        assert not [name for name in ordered_by if reaches_gender(GenderIdentity, name)], order
    assert not changelist(q=SELF_DESCRIPTION).context_data["cl"].result_list
    refused = [{"gender": "woman"}, {"stage_consent__exact": "1"}]
    refused.append({"consent_changed_at__year": str(timezone.now().year)})
    for lookup in refused:
        with pytest.raises(DisallowedModelAdminLookup):
            changelist(**lookup)

    request = RequestFactory().get("/")
    request.user = viewers["superuser"]
    form = model_admin.get_form(request, GenderIdentity.objects.first(), change=True)
    assert list(form.base_fields) == ["user"]
    assert model_admin.get_fieldsets(request) == [(None, {"fields": ["user"]})]
