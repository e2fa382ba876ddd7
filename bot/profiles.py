"""Volunteer profiles: sign-up answers to stored rows and back, and the effects that write them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogue import DeleteUserData, Effect, Profile, SaveVolunteer, SetVolunteerStatus
from storage import repo
from storage.base import utcnow
from storage.models import Volunteer


def answers_of(volunteer: Volunteer) -> dict[str, Any]:
    """The sign-up answers a saved volunteer corresponds to (to show or edit them)."""
    answers: dict[str, Any] = {
        "display_name": volunteer.display_name,
        "area": volunteer.area,
        "skills": [s.skill for s in volunteer.skills],
        "occupation": volunteer.occupation,
        "experience_years": volunteer.experience_years,
        "hours_per_week": volunteer.hours_per_week,
        "availability": list(volunteer.availability),
        "mode": volunteer.mode,
        "interests": list(volunteer.interests),
        "consent": "agree",
    }
    if volunteer.skills_other:
        answers["skills_other"] = volunteer.skills_other
    if volunteer.languages:
        answers["languages"] = list(volunteer.languages)
    return answers


def profile_of(volunteer: Volunteer | None) -> Profile | None:
    """The router's view of a volunteer."""
    if volunteer is None:
        return None
    return Profile(answers=answers_of(volunteer), status=volunteer.status)


async def apply_effect(
    session: AsyncSession,
    channel: str,
    user_key: str,
    locale: str,
    effect: Effect,
    *,
    notice_version: str,
) -> None:
    """Write one effect decided by the dialogue, inside the caller's transaction."""
    if isinstance(effect, SaveVolunteer):
        a = effect.answers
        existing = await repo.get_volunteer(session, channel, user_key)
        fields: dict[str, Any] = {
            "locale": locale,
            "display_name": a["display_name"],
            "area": a["area"],
            "occupation": a["occupation"],
            "experience_years": int(a["experience_years"]),
            "hours_per_week": int(a["hours_per_week"]),
            "availability": list(a["availability"]),
            "mode": a["mode"],
            "interests": list(a["interests"]),
            "skills_other": a.get("skills_other"),
            "languages": list(a.get("languages") or []),
        }
        if existing is None:
            # Consent is recorded with its time and the notice version it was given to.
            fields["consent_version"] = notice_version
            fields["consented_at"] = utcnow()
        await repo.save_volunteer(session, channel, user_key, fields, list(a["skills"]))
    elif isinstance(effect, SetVolunteerStatus):
        await repo.set_volunteer_status(session, channel, user_key, effect.status)
    elif isinstance(effect, DeleteUserData):
        await repo.delete_volunteer(session, channel, user_key)
        await repo.delete_conversation(session, channel, user_key)
