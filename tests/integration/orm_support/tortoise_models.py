"""Tortoise models (registered as app ``models`` by the tests)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Player(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    score = fields.IntField(default=0)


class Arena(Model):
    """A UUID primary key."""

    id = fields.UUIDField(primary_key=True)
    city = fields.CharField(max_length=50)
