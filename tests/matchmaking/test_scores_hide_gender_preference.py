"""A mentee's preferred mentor gender steers the matching but moves no figure anyone sees.

The attack: run the matching, change only one mentee's hidden preferred mentor gender,
run it again and compare the scores of the same pairs. Any score, total, certificate
figure or reason that moved would tell the organisers the preference and hint at the
mentor's gender. So every page and e-mail is rendered in both worlds and compared.
"""

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import numpy as np
import pytest
from django.core import mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from matchmaking import selectors, services
from matchmaking.explanations import render_all
from matchmaking.models import Application, Match, MatchingRun, Programme
from members import privacy
from members.models import GenderIdentity
from tests.matchmaking.factories import ApplicationFactory, ProgrammeFactory, language, topic

pytestmark = pytest.mark.django_db
Gender = GenderIdentity.Gender
Format = Application.MeetingFormat
LANGUAGES = ("en", "de", "fr", "it")

# name, own gender ("" = none given), agreed to its use, meeting format, seniority, topics
MENTORS = (
    ("Wanda Mentor", Gender.WOMAN, True, Format.EITHER, 3, ("Robotics", "Welding")),
    ("Marco Mentor", Gender.MAN, True, Format.ONLINE, 4, ("Robotics",)),
    ("Nico Mentor", Gender.NON_BINARY, True, Format.IN_PERSON, 2, ("Welding",)),
    ("Vera Mentor", Gender.WOMAN, False, Format.ONLINE, 3, ("Robotics", "Logistics")),
)
# name, meeting format, topics, preferred mentor gender in one world, in the other
MENTEES = (
    ("Ada Mentee", Format.ONLINE, ("Robotics",), Gender.WOMAN, Gender.MAN),
    ("Ben Mentee", Format.IN_PERSON, ("Welding", "Robotics"), Gender.MAN, ""),
    ("Cleo Mentee", Format.EITHER, ("Logistics",), "", Gender.MAN),
    ("Dana Mentee", Format.ONLINE, ("Robotics", "Welding"), Gender.NON_BINARY, Gender.WOMAN),
)
FIRST, SECOND = 3, 4  # the column of MENTEES that holds each world's preference


@dataclass
class World:
    programme: Programme
    mentors: list[Application]
    mentees: list[Application]

    @property
    def people(self) -> list[Application]:
        return [*self.mentors, *self.mentees]


def _named(application: Application, name: str) -> Application:
    application.user.profile.display_name = name
    application.user.profile.save(update_fields=["display_name"])
    return application


def build_world(cluster, *, shift: int | None) -> World:
    """Four mentors and four mentees. With a `shift`, mentee i speaks only the language of
    mentor (i + shift) mod 4, so the pairs are the same whatever the preferences; without
    one, everyone speaks every language and every pair is allowed."""
    programme = ProgrammeFactory(
        clusters=[cluster], allow_mentor_gender_preference=True, title="Leadership mentoring"
    )
    every = [language(code) for code in LANGUAGES]
    mentors = []
    for j, (name, gender, agreed, meeting, seniority, topics) in enumerate(MENTORS):
        mentor = ApplicationFactory(
            programme=programme, role=Application.Role.MENTOR, topics=[topic(t) for t in topics],
            languages=every if shift is None else [every[j]], meeting_format=meeting,
            seniority=seniority, country="AT", capacity=1, gender_may_be_matched=agreed,
        )  # fmt: skip
        privacy.gender_set(user=mentor.user, gender=gender, statistics_consent=True)
        mentors.append(_named(mentor, name))
    mentees = []
    for i, (name, meeting, topics, wish, _other) in enumerate(MENTEES):
        mentee = ApplicationFactory(
            programme=programme, topics=[topic(t) for t in topics],
            languages=every if shift is None else [every[(i + shift) % len(LANGUAGES)]],
            meeting_format=meeting, seniority=1, country="AT", preferred_mentor_gender=wish,
        )  # fmt: skip
        mentees.append(_named(mentee, name))
    return World(programme=programme, mentors=mentors, mentees=mentees)


def state_preferences(world: World, column: int) -> None:
    for mentee, row in zip(world.mentees, MENTEES, strict=True):
        mentee.preferred_mentor_gender = row[column]
        mentee.save(update_fields=["preferred_mentor_gender"])


# --- what a page shows ------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a reader sees (no attributes, no scripts or styles)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style") and self._hidden > 0

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
ADMIN_TIME = r"(?:\d{1,2}(?::\d{2})? [ap]\.m\.|noon|midnight)"
# What differs between two renderings of the same data: when things happened, how long the
# solver took, and row ids (PostgreSQL does not roll its sequences back). The admin's
# "Dec. 6, 2026, 9:02 a.m." goes first: the site's "6 Dec 2026, 09:02" pattern would
# otherwise take the score in the column before it for a day.
VOLATILE = [
    (re.compile(rf"\b{MONTH} \d{{1,2}}, \d{{4}}(?:, {ADMIN_TIME})?"), "<when>"),
    (re.compile(rf"\b\d{{1,2}} {MONTH}(?: \d{{4}})?(?:, \d{{1,2}}:\d{{2}})?"), "<when>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.+]+)?"), "<when>"),
    (re.compile(r"\b\d+\.\d{3,}(?: s)?"), "<seconds>"),
    (re.compile(r"#\d+"), "#<id>"),
    (re.compile(r"\bID: \d+"), "ID: <id>"),
    (re.compile(r"/\d+/"), "/<id>/"),
]


def shown(content: str | bytes) -> str:
    parser = _Text()
    parser.feed(content.decode() if isinstance(content, bytes) else content)
    text = " ".join(" ".join(parser.parts).split())
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:[.,]\d+)?", text)


def proposal_scores(page: str) -> dict[tuple[str, str], int]:
    """(mentor, mentee) → the score in the organisers' proposals table."""
    scores = {}
    table = page.split('id="h-proposals"', 1)[1].split("</table>", 1)[0]
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if len(cells) >= 3:
            mentor, mentee = (shown(cell.split("<br>")[0]) for cell in cells[:2])
            scores[(mentor, mentee)] = int(shown(cells[2]))
    return scores


def name(application: Application) -> str:
    return application.user.profile.display_name


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return shown(response.content)


def e_mail(message) -> str:
    return " | ".join(
        [shown(message.subject), shown(message.body)]
        + [shown(content) for content, _ in getattr(message, "alternatives", [])]
    )


def everything_shown(world: World, column: int, *, client_for, organiser, staff, capture):
    """Every page and e-mail in which a score, total or reason can appear, after running
    the matching through the real services with the preferences of `column`; then the
    database goes back to before (a savepoint), so the other world starts from the same
    people."""
    programme = world.programme
    pages: dict[str, object] = {}

    def manage(name_: str) -> str:
        return reverse(f"matchmaking:{name_}", args=[programme.slug])

    with transaction.atomic():
        state_preferences(world, column)
        services.programme_match_run(programme=programme, by=organiser)
        by_organiser = client_for(organiser)
        matching = by_organiser.get(manage("programme_matching")).content.decode()
        pages["proposal scores"] = proposal_scores(matching)
        pages["stored scores"] = {
            (name(m.mentor), name(m.mentee)): m.score
            for m in Match.objects.filter(programme=programme)
        }
        for stage in ("proposed", "published"):
            if stage == "published":
                mail.outbox.clear()
                with capture(execute=True):
                    services.programme_publish(programme=programme, by=organiser)
                pages["e-mails"] = sorted(e_mail(m) for m in mail.outbox)
            for view in ("programme_matching", "programme_manage", "programme_applications"):
                pages[f"{stage} {view}"] = page(by_organiser, manage(view))
            pages[f"{stage} manage_list"] = page(by_organiser, reverse("matchmaking:manage_list"))
        for person in world.people:
            client = client_for(person.user)
            for match in Match.objects.filter(Q(mentor=person) | Q(mentee=person)):
                pages[f"{name(person)}: match"] = page(client, match.get_absolute_url())
            pages[f"{name(person)}: mine"] = page(client, reverse("matchmaking:my_mentoring"))
            pages[f"{name(person)}: programme"] = page(client, programme.get_absolute_url())
        by_staff = client_for(staff)
        for model in (Match, MatchingRun):
            admin = f"admin:matchmaking_{model._meta.model_name}"
            pages[f"admin {admin} list"] = page(by_staff, reverse(f"{admin}_changelist"))
            for row in model.objects.filter(programme=programme):
                key = f"admin {name(row.mentee) if model is Match else 'run'}"
                pages[key] = page(by_staff, reverse(f"{admin}_change", args=[row.pk]))
        transaction.set_rollback(True)
    return pages


# --- the tests --------------------------------------------------------------------------


def test_the_shown_score_of_every_pair_ignores_the_preferred_mentor_gender(cluster):
    world = build_world(cluster, shift=None)
    state_preferences(world, FIRST)
    first = selectors.matching_input(programme=world.programme).scorer
    state_preferences(world, SECOND)
    second = selectors.matching_input(programme=world.programme).scorer
    n = len(world.mentees)

    # The solver's scores do move (this is what the mentees asked for) …
    moved = first.block(0, n) != second.block(0, n)
    assert moved.sum() >= 8, "the worlds should differ in the hidden part for most pairs"
    # … no shown score, shown component or reason does.
    assert (first.shown_block(0, n) == second.shown_block(0, n)).all()
    assert (first.shown_block(0, n) >= 0).all()
    assert np.array_equal(first.shown_components(0, n), second.shown_components(0, n))
    for i in range(n):
        for j in range(len(world.mentors)):
            assert first.explain_pair(i, j) == second.explain_pair(i, j), (i, j)


def test_shown_scores_are_the_scores_of_a_mentee_without_a_preference(cluster):
    world = build_world(cluster, shift=None)
    state_preferences(world, FIRST)
    wished = selectors.matching_input(programme=world.programme).scorer
    for mentee in world.mentees:
        mentee.preferred_mentor_gender = ""
        mentee.save(update_fields=["preferred_mentor_gender"])
    unwished = selectors.matching_input(programme=world.programme).scorer
    n = len(world.mentees)
    assert (wished.shown_block(0, n) == unwished.block(0, n)).all()
    assert (unwished.shown_block(0, n) == unwished.block(0, n)).all()


@pytest.mark.parametrize("shift", range(len(LANGUAGES)))
def test_no_page_or_e_mail_shows_a_figure_that_moves_with_the_preferred_mentor_gender(
    cluster, organiser, staff, client_for, django_capture_on_commit_callbacks, shift
):
    # Each shift pairs every mentee with another mentor: over the four, all 16 pairs.
    world = build_world(cluster, shift=shift)
    n = len(world.mentees)
    solver_scores = []
    for column in (FIRST, SECOND):
        state_preferences(world, column)
        scorer = selectors.matching_input(programme=world.programme).scorer
        solver_scores.append([int(scorer.block(i, i + 1)[0, (i + shift) % n]) for i in range(n)])
    assert solver_scores[0] != solver_scores[1], "the hidden part must differ for these pairs"

    seen = {}
    for column in (FIRST, SECOND):
        seen[column] = everything_shown(
            world, column, client_for=client_for, organiser=organiser, staff=staff,
            capture=django_capture_on_commit_callbacks,
        )  # fmt: skip
    first, second = seen[FIRST], seen[SECOND]

    # The same pairs, with the same scores, in the table, in the database and in the
    # selector values (the shown score of the pair, whatever the preferences).
    pairs = {(name(world.mentors[(i + shift) % n]), name(e)) for i, e in enumerate(world.mentees)}
    assert set(first["proposal scores"]) == pairs
    assert first["proposal scores"] == second["proposal scores"] == first["stored scores"]
    assert first["stored scores"] == second["stored scores"]
    state_preferences(world, SECOND)
    scorer = selectors.matching_input(programme=world.programme).scorer
    for i, mentee in enumerate(world.mentees):
        j = (i + shift) % n
        pair = (name(world.mentors[j]), name(mentee))
        assert first["proposal scores"][pair] == int(scorer.shown_block(i, i + 1)[0, j])

    # Every other page and e-mail: the same numbers, indeed the same text. (The scores are
    # among the numbers compared: what is left out as volatile does not hide them.)
    for key in ("published programme_matching", "admin admin:matchmaking_match list"):
        found = numbers(first[key])
        assert all(str(score) in found for score in first["stored scores"].values()), key
    assert first.keys() == second.keys()
    assert len(first["e-mails"]) == 2 * n
    for key in first:
        if key.endswith("scores"):
            continue
        assert numbers(str(first[key])) == numbers(str(second[key])), key
        assert first[key] == second[key], key
    matching = first["published programme_matching"]
    assert "certified optimal" in matching and "no better matching exists" in matching


def test_the_matching_still_follows_the_preferred_mentor_gender(cluster, organiser, client_for):
    programme = ProgrammeFactory(clusters=[cluster], allow_mentor_gender_preference=True)
    mentors = {}
    for gender, label in ((Gender.WOMAN, "Wanda Mentor"), (Gender.MAN, "Marco Mentor")):
        mentor = ApplicationFactory(
            programme=programme, role=Application.Role.MENTOR, topics=[topic("Robotics")],
            gender_may_be_matched=True,
        )  # fmt: skip
        privacy.gender_set(user=mentor.user, gender=gender, statistics_consent=True)
        mentors[gender] = _named(mentor, label)
    mentee = _named(
        ApplicationFactory(programme=programme, topics=[topic("Robotics")]), "Ada Mentee"
    )
    page_url = reverse("matchmaking:programme_matching", args=[programme.slug])

    chosen, scores = {}, {}
    for wish in (Gender.WOMAN, Gender.MAN, Gender.WOMAN):
        mentee.preferred_mentor_gender = wish
        mentee.save(update_fields=["preferred_mentor_gender"])
        services.programme_match_run(programme=programme, by=organiser)
        match = Match.objects.get(programme=programme, mentee=mentee)
        chosen[wish] = match.mentor
        page = client_for(organiser).get(page_url).content.decode()
        reasons = [r.replace(name(match.mentor), "<mentor>") for r in render_all(match.reasons)]
        on_page = proposal_scores(page)[(name(match.mentor), "Ada Mentee")]
        total = MatchingRun.objects.filter(programme=programme).first().total_score
        scores[wish] = (match.score, reasons, on_page, total)

    # The preference decides who is proposed …
    assert chosen[Gender.WOMAN] == mentors[Gender.WOMAN]
    assert chosen[Gender.MAN] == mentors[Gender.MAN]
    # … and nothing shown tells which way it went: the same score, reasons and total.
    assert scores[Gender.WOMAN] == scores[Gender.MAN]
    score, _reasons, on_page, total = scores[Gender.WOMAN]
    assert score == on_page == total > 0
