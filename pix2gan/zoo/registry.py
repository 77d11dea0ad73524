"""The registry of zoo entries: look a recipe up by name, or rebuild it from a model card."""
from __future__ import annotations

from ..errors import Pix2GanError
from .recipe import Recipe, card_settings, read_card

_RECIPES: dict[str, type[Recipe]] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: make ``cls`` (a :class:`Recipe` with a ``name``) available by name."""
    if not cls.name or cls.name in _RECIPES:
        raise ValueError(f"recipe {cls.__name__} needs a unique name (got {cls.name!r})")
    _RECIPES[cls.name] = cls
    return cls


def names() -> list[str]:
    """The names of every zoo entry, sorted."""
    return sorted(_RECIPES)


def recipe_class(name: str) -> type[Recipe]:
    if name not in _RECIPES:
        raise Pix2GanError(f"unknown zoo entry {name!r}: valid ones are {', '.join(names())}", argument="name")
    return _RECIPES[name]


def get(name: str, **settings) -> Recipe:
    """The recipe ``name`` with its defaults, overridden by ``settings`` (unknown names or values
    out of their domain raise :class:`Pix2GanError` naming the valid ones)."""
    cls = recipe_class(name)
    return cls().replace(**settings) if settings else cls()


def from_card(path: str) -> Recipe:
    """The recipe, with every setting, that produced a saved model (from its JSON model card)."""
    card = read_card(path)
    cls = recipe_class(card["entry"])
    return get(card["entry"], **card_settings(card, cls))
