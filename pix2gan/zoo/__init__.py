"""The zoo: named recipes. ``get(name, **settings)`` builds one; ``names()`` lists them;
``from_card(path)`` rebuilds the recipe of a saved model. Each entry module registers itself on import."""
# Importing an entry module registers it; add new entries here.
from . import cloud_removal, cyclegan, mnist, pix2pix_facades, scenes, sequence  # noqa: E402,F401
from .recipe import Data, DataOptions, Recipe, Run, RunOptions, Source
from .registry import from_card, get, names, recipe_class, register

__all__ = ["Data", "DataOptions", "Recipe", "Run", "RunOptions", "Source", "from_card", "get", "names",
           "recipe_class", "register"]
