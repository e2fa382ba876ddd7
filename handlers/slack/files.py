"""Files for one person (exports, the report, the case site) uploaded to their DM with
`files_upload_v2`: files.getUploadURLExternal, the upload, files.completeUploadExternal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.i18n import T, Texts
from bot.office.cases import CaseError
from bot.office.exports import ExportError
from bot.office.service import Files

log = logging.getLogger(__name__)


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    failed = T(
        "ファイルを作れませんでした。しばらくしてからもう一度お試しください。",
        "The file could not be made. Please try again in a while.",
    )
    upload_failed = T(
        "ファイルをお送りできませんでした。しばらくしてからもう一度お試しください。",
        "The file could not be sent. Please try again in a while.",
    )


TXT = _Texts

Tell = Callable[[str], Awaitable[None]]


async def deliver_files(
    client: AsyncWebClient, user: str, make: Callable[[], Awaitable[Files]], locale: str, tell: Tell
) -> None:
    """Make the files, upload them to the person's DM, and tidy up; any failure is told
    to the person politely (what they asked for is not lost: they can ask again)."""
    try:
        files = await make()
    except (ExportError, CaseError) as exc:
        await tell(exc.text(locale))
        return
    except Exception:
        log.exception("slack: files for a command could not be made")
        await tell(TXT.failed(locale))
        return
    try:
        dm = await client.conversations_open(users=user)
        channel = str(dm["channel"]["id"])
        await client.files_upload_v2(
            channel=channel,
            initial_comment=files.text,
            file_uploads=[
                {"file": str(f.path), "filename": f.name, "title": f.title} for f in files.files
            ],
        )
    except (SlackApiError, ClientError, TimeoutError, OSError) as exc:
        log.warning("slack: files could not be uploaded (%s)", type(exc).__name__)
        await tell(TXT.upload_failed(locale))
    finally:
        files.cleanup()
