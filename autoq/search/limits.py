"""Time limits a worker enforces on itself while a trial runs: the trial's own limit
(``--trial-timeout``) and what is left of the study's ``--timeout``. A task whose evaluation
hangs is interrupted (SIGALRM), not waited for.

The exceptions derive from BaseException, so a task's ``except Exception`` does not
swallow them; ``Searcher.run_trial`` handles each.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class TrialTimeout(BaseException):
    """The trial ran past its own limit: it fails, with that as its reason."""


class StudyTimeout(BaseException):
    """The study's --timeout came while a trial ran: the trial is cut short (run again on
    resume) and the worker stops."""


@contextmanager
def time_limit(trial_s: float | None, study_left_s: float | None) -> Iterator[None]:
    """Interrupt the block after ``trial_s`` (TrialTimeout) or ``study_left_s``
    (StudyTimeout), whichever comes first; None: no limit. Enforced in the main thread
    only (where signals arrive); elsewhere the block runs unlimited."""
    limits = [(s, kind) for s, kind in ((trial_s, TrialTimeout), (study_left_s, StudyTimeout))
              if s is not None]
    if not limits or threading.current_thread() is not threading.main_thread():
        yield
        return
    seconds, kind = min(limits, key=lambda x: x[0])

    def expired(_signum, _frame):
        raise kind(f"timed out after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
