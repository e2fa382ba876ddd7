"""The `/tsunagu` command registry: every verb is documented in both languages, help is
generated from the table, and Slack and the console answer through it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.budget import Budget
from bot.commands import REGISTRY, CommandRequest, Commands, Role, Services
from bot.coordination import Coordination
from bot.dialogue import Dialogue
from bot.effects import EffectContext
from bot.inbox import Inbox
from bot.languages import PersonLanguages
from bot.lifecycle.kickoff import Kickoff
from bot.lifecycle.service import Lifecycle
from bot.lifecycle.work import Work
from bot.matching.service import Matching
from bot.office.service import Office
from bot.programmes.service import Programmes
from bot.programmes.teams import TeamChannels
from handlers.console import ConsoleChat
from storage.db import make_engine, make_sessionmaker
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, OUTSIDER, AppServer, SlackUser

LISTED = re.compile(r"^• `/tsunagu ([^\s`]+)", re.MULTILINE)
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture
def engine(database_url: str) -> Iterator[AsyncEngine]:
    yield make_engine(database_url)


def every_service(engine: AsyncEngine) -> Services:
    """Real services on the test database (nothing is called until a verb runs)."""
    maker = make_sessionmaker(engine)
    coordination = Coordination(maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="")
    return Services(
        coordination,
        Matching(maker, coordination),
        Programmes(maker, coordination, locale="ja"),
        TeamChannels(maker),
        Budget(maker),
        Office(maker),
        kickoff=Kickoff(maker, Lifecycle(maker, coordination)),
        work=Work(maker, Lifecycle(maker, coordination)),
        languages=PersonLanguages(maker, "slack"),
    )


def test_every_verb_has_usage_and_help_in_both_languages() -> None:
    names = [n for c in REGISTRY for n in (c.verb, *c.aliases)]
    assert len(names) == len(set(names)), "a verb or alias is used twice"
    for command in REGISTRY:
        assert command.verb == command.verb.lower() and " " not in command.verb
        assert command.help.ja and command.help.en, command.verb
        assert JAPANESE.search(command.help.ja), f"{command.verb}: ja help is not Japanese"
        assert not JAPANESE.search(command.help.en), f"{command.verb}: en help is not English"
        # A verb that takes arguments shows them in both languages.
        takes_args = command.numbers or command.min_args
        assert bool(command.usage.ja) == bool(command.usage.en), command.verb
        assert not takes_args or (command.usage.ja and command.usage.en), command.verb
        for loc in ("ja", "en"):
            assert command.usage_line(loc).startswith(f"/tsunagu {command.verb}")


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_help_lists_exactly_the_registry(engine: AsyncEngine, locale: str) -> None:
    commands = Commands(every_service(engine))
    shown = LISTED.findall(commands.help_text(locale))
    assert shown == [c.verb for c in REGISTRY]
    heading = "*/tsunagu の使い方*" if locale == "ja" else "*/tsunagu commands*"
    assert commands.help_text(locale).startswith(heading)
    # Someone who is not a coordinator sees the verbs for team members and anyone.
    theirs = LISTED.findall(commands.help_text(locale, coordinator=False))
    assert theirs == [
        c.verb for c in REGISTRY if c.role is not Role.COORDINATOR and c.verb != "help"
    ]
    assert theirs, "no verb for team members"


def test_help_leaves_out_verbs_whose_service_is_off(engine: AsyncEngine) -> None:
    services = every_service(engine)
    services.matching = services.teams = services.budget = None
    shown = LISTED.findall(Commands(services).help_text("en"))
    assert shown == [c.verb for c in REGISTRY if c.available(services)]
    assert "match" not in shown and "link" not in shown and "quota" not in shown
    assert "projects" in shown and "programme" in shown


def request(text: str, locale: str = "en", *, coordinator: bool = True) -> CommandRequest:
    return CommandRequest.parse(
        text, actor="U0TEST", locale=locale, channel="C0TEST", coordinator=coordinator
    )


async def test_help_for_one_verb_bad_arguments_and_unknown_verbs(engine: AsyncEngine) -> None:
    commands = Commands(every_service(engine))
    for command in REGISTRY:
        for loc in ("ja", "en"):
            text = (await commands.run(request(f"help {command.verb}", loc))).text
            assert command.usage_line(loc) in text and command.help(loc) in text
    alias = (await commands.run(request("help program"))).text
    assert "/tsunagu programme" in alias and "(also: program)" in alias
    # Arguments that do not fit get the verb's usage, in the reader's language.
    assert (await commands.run(request("attendance soon"))).text == (
        "Usage: `/tsunagu attendance PHASE_ID`"
    )
    assert (
        "使い方: `/tsunagu assign 相談番号" in (await commands.run(request("assign 12", "ja"))).text
    )
    assert "Usage: `/tsunagu project 12`" in (await commands.run(request("project"))).text
    # An unknown verb: said so politely, with the nearest verbs.
    unknown = (await commands.run(request("projcts now"))).text
    assert "I don't know “projcts now”" in unknown and "`projects`" in unknown
    assert "わかりませんでした" in (await commands.run(request("dance", "ja"))).text
    # Not a coordinator: coordinators' verbs (and their help) are refused, to be audited.
    refused = await commands.run(request("projects", coordinator=False))
    assert refused.refused and "only coordinators" in refused.text
    assert (await commands.run(request("help projects", coordinator=False))).refused
    theirs = (await commands.run(request("help", "ja", coordinator=False))).text
    assert "*チームのコマンド*" in theirs and "/tsunagu projects" not in theirs
    await engine.dispose()


@pytest.fixture
async def console_chat(engine: AsyncEngine) -> AsyncIterator[ConsoleChat]:
    maker = make_sessionmaker(engine)
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    await inbox.start()
    coordination = Coordination(maker, locale="en", timezone="Asia/Tokyo", coordinator_channel="")
    commands = Commands(
        Services(coordination, programmes=Programmes(maker, coordination, locale="en"))
    )
    try:
        yield ConsoleChat(inbox, user="office", commands=commands, locale="en")
    finally:
        await inbox.stop()
        await engine.dispose()


async def test_the_console_answers_commands_through_the_registry(
    console_chat: ConsoleChat,
) -> None:
    assert console_chat.is_command("/tsunagu help") and not console_chat.is_command("hello")
    assert console_chat.commands is not None
    services = console_chat.commands.services
    shown = LISTED.findall(await console_chat.command("/tsunagu help"))
    assert shown == [c.verb for c in REGISTRY if c.available(services)]
    assert "projects" in shown and "match" not in shown
    assert "Usage: `/tsunagu cancel ANNOUNCEMENT_ID`" in await console_chat.command(
        "/tsunagu cancel"
    )
    assert (await console_chat.command("/tsunagu program")).startswith("Programmes")
    assert "Request #7 was not found" in await console_chat.command("/tsunagu project 7")
    assert "I don't know “dance”" in await console_chat.command("/tsunagu dance")


def test_slack_help_comes_from_the_registry(slack_app: AppServer, fake_slack: FakeSlackApi) -> None:
    fake_slack.add_user(COORDINATORS[1], "ken", locale="en-US")
    english = SlackUser(slack_app, fake_slack, COORDINATORS[1], "coordinators")
    listed = LISTED.findall(english.command("help").json()["text"])
    assert listed and set(listed) <= {c.verb for c in REGISTRY}
    assert {"projects", "project", "volunteers", "outbox", "help"} <= set(listed)
    one = english.command("help attendance").json()["text"]
    assert "`/tsunagu attendance PHASE_ID`" in one
    assert english.command("attendance soon").json()["text"] == (
        "Usage: `/tsunagu attendance PHASE_ID`"
    )
    assert "`projects`" in english.command("projcts").json()["text"]
    japanese = SlackUser(slack_app, fake_slack, COORDINATORS[0], "coordinators")
    assert "使い方: `/tsunagu project 12`" in japanese.command("project").json()["text"]
    outsider = SlackUser(slack_app, fake_slack, OUTSIDER, "coordinators")
    assert "コーディネーターのみ" in outsider.command("help projects").json()["text"]


def test_tsunagu_chat_takes_commands(database_url: str, tmp_path: Path) -> None:
    """The real `tsunagu chat`: a /tsunagu line is a command, anything else the dialogue."""
    tsunagu = Path(sys.executable).parent / "tsunagu"
    env = {**os.environ, "DATABASE_URL": database_url, "TSUNAGU_LOG_LEVEL": "WARNING"}
    typed = ["/tsunagu help", "/tsunagu project x", "/tsunagu projects", "1"]
    done = subprocess.run(
        [str(tsunagu), "chat", "--user", "office", "--lang", "en"],
        input="\n".join(typed) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    shown = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, shown
    for expected in [
        "*/tsunagu commands*",
        "• `/tsunagu schedule`",
        "Usage: `/tsunagu project 12`",
        "What should we call you?",
    ]:
        assert expected in done.stdout, f"missing {expected!r}\n{shown}"
