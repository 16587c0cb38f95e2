"""A Django app for the ORM tests (label ``django_app``)."""
