"""Thin platform adapters: verify, translate events in, call the core, render replies out."""
