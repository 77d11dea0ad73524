"""The zoo: named recipes (`pix2gan list`). Each entry module registers itself on import."""
from .registry import Entry, get_entry, list_entries, register

# Importing an entry module registers it; add new entries here.
from . import pix2pix_facades  # noqa: E402,F401
from . import mnist  # noqa: E402,F401

__all__ = ["Entry", "get_entry", "list_entries", "register"]
from . import cloud_removal  # noqa: E402,F401
