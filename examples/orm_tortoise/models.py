"""The application's models: plain Tortoise ORM."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Player(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    rating = fields.IntField(default=1000)


class Match(Model):
    id = fields.UUIDField(primary_key=True)
    venue = fields.CharField(max_length=100)
