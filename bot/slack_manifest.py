"""The Slack app Tsunagu needs, as a Slack app manifest (`tsunagu slack manifest`).

This is the one place that says which Slack Web API methods the code calls and which
bot scopes each needs (from Slack's method documentation); the manifest's scope list
is derived from it. A test checks that every method the code calls is listed here, and
the tests' fake Slack refuses a method whose scope the manifest lacks (`missing_scope`),
as Slack does. Data only: no Slack SDK is imported here.
"""

from __future__ import annotations

from typing import Any

import yaml

# Every Web API method the app calls, and the bot scopes it needs. Slack accepts any
# one of a method's scopes; the app needs all of those listed here (public and private
# channels). Methods that need no scope (a trigger or the token is enough) map to ().
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),  # Bolt checks the token with it
    "chat.postMessage": ("chat:write",),  # cards, announcements, DMs in the App Home
    "chat.postEphemeral": ("chat:write",),  # private answers and refusals
    "chat.update": ("chat:write",),  # cards updated in place
    "views.open": (),  # modals (a trigger id is the permission)
    # Team channels: private channels the bot creates, joins and invites people to.
    "conversations.create": ("channels:manage", "groups:write"),
    "conversations.invite": ("channels:manage", "groups:write"),
    "conversations.join": ("channels:join",),
    "conversations.list": ("channels:read", "groups:read"),
    # Coordinators named by a user group (SLACK_COORDINATOR_IDS=S...).
    "usergroups.users.list": ("usergroups:read",),
    # The App Home (the office's dashboard, a person's own page).
    "views.publish": (),
    # Exports and the report, uploaded to the coordinator's DM (files_upload_v2).
    "conversations.open": ("im:write",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    # Each person's Slack language (include_locale), for what only they read.
    "users.info": ("users:read",),
}

# Bot events the app subscribes to, and the scope each needs.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_mention": ("app_mentions:read",),
    "app_home_opened": (),
}

SLASH_COMMAND = "/tsunagu"
SLASH_SCOPES = ("commands",)

# Every request from Slack (events, interactivity, the slash command) comes to one URL.
REQUEST_PATH = "/slack/events"


def bot_scopes() -> list[str]:
    """Every bot scope the app needs, sorted: the methods', the events' and the command's."""
    scopes: set[str] = set(SLASH_SCOPES)
    for needed in (*METHOD_SCOPES.values(), *EVENT_SCOPES.values()):
        scopes.update(needed)
    return sorted(scopes)


def request_url(base_url: str) -> str:
    """The URL Slack sends everything to, for a public base URL such as https://HOST."""
    return base_url.rstrip("/") + REQUEST_PATH


def manifest(base_url: str, name: str = "Tsunagu") -> dict[str, Any]:
    """The Slack app manifest for a deployment reachable at `base_url` (https://HOST)."""
    url = request_url(base_url)
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "つなぐ: プロボノ・共助のマッチング / pro bono matching for communities",
            "background_color": "#1d6b5f",
        },
        "features": {
            # The Home tab is the office's dashboard (a person's own page for others).
            # Private notes to one person (e.g. a refusal outside a channel) and files
            # arrive in the app's Messages tab; people do not write to the bot there.
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [
                {
                    "command": SLASH_COMMAND,
                    "url": url,
                    "description": "Tsunagu: 相談・候補・プログラム / requests, matches, programme",
                    "usage_hint": "help | projects | match ID | programme | link CODE",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": {"request_url": url, "bot_events": sorted(EVENT_SCOPES)},
            "interactivity": {"is_enabled": True, "request_url": url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(base_url: str, name: str = "Tsunagu") -> str:
    """The manifest as YAML, with a header saying how it was made."""
    header = (
        "# Slack app manifest for Tsunagu, made by `tsunagu slack manifest --url "
        f"{base_url.rstrip('/')}`.\n"
        "# Create the app from it: https://api.slack.com/apps > Create New App > From a manifest.\n"
    )
    body = yaml.safe_dump(manifest(base_url, name), allow_unicode=True, sort_keys=False, width=100)
    return header + body
