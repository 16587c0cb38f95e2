from __future__ import annotations

import uuid

from django.db import models


class ActiveManager(models.Manager["Author"]):
    def get_queryset(self) -> models.QuerySet[Author]:
        return super().get_queryset().filter(active=True)


class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    objects = ActiveManager()  # hides inactive authors; workers still load them
    everyone = models.Manager()


class Ticket(models.Model):
    """A UUID primary key, set before the row exists."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=100)


class Membership(models.Model):
    """A composite primary key (Django 5.2)."""

    pk = models.CompositePrimaryKey("team", "member_no")
    team = models.CharField(max_length=20)
    member_no = models.IntegerField()
    role = models.CharField(max_length=20)
