"""Model instances as task arguments: SQLAlchemy, Django and Tortoise ORM.

An instance travels as a small reference (stable model name, primary key); the
worker fetches the row fresh before the task runs. See docs/orm.md. The per-ORM
modules (``.sqlalchemy``, ``.django``, ``.tortoise``) import their ORM; this package
does not.
"""

from asynctasq.serialization.orm.references import (
    ORM_HOOKS,
    DjangoRef,
    ModelRef,
    SQLAlchemyRef,
    TortoiseRef,
    UnknownModelError,
    UnsavedModelError,
)

__all__ = [
    "ORM_HOOKS",
    "DjangoRef",
    "ModelRef",
    "SQLAlchemyRef",
    "TortoiseRef",
    "UnknownModelError",
    "UnsavedModelError",
]
