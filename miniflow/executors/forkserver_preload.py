"""Imported once by the local executor's fork server, before it forks the workers (see
`miniflow.executors.local`): what every try needs is imported, and the store's
statements are compiled, in the fork server, so all workers share those pages with it
rather than each building its own copy."""

from __future__ import annotations

import contextlib
import gc

from miniflow.executors.worker import prepare_worker

# A database that is not there yet only costs the workers their shared warm-up: each
# then compiles what it runs itself, and the try reports the database's error.
with contextlib.suppress(Exception):
    prepare_worker()

# Collections would write to every object's header, and so copy, in each worker, the
# pages it shares: what exists now is left out of them for good.
gc.freeze()
