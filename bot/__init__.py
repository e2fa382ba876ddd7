"""Tsunagu's platform-neutral core: settings, the conversation engine and its flows, services."""
