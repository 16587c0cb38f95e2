"""A task module that takes 1.5 s to import: a pool process's start-up on a loaded host."""

import time

time.sleep(1.5)
