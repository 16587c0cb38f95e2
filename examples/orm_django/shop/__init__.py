"""A tiny Django project whose only app is itself (label ``shop``)."""
