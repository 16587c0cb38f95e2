"""A task module that takes a second to import, like a big application's models: the
worker's start-up window is then wide enough to send it a signal inside."""

import time

time.sleep(1.0)
