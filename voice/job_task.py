"""A Celery task whose every run is written on its job's row (voice/jobs.py), through Celery's own hooks, so
the task bodies stay about their work. Hooks run in the worker (and for ``apply`` in tests) around each run.

A task that gives up without raising (it noted the failure on the call's timeline and returned) says so with
``self.give_up(reason)``: the job is then failed with that reason instead of done.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from voice import jobs


class JobTask(Task):
    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        jobs.started(self.name, args, kwargs or {}, worker=self.request.hostname or "")

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        jobs.succeeded(self.name, args, kwargs or {}, result=retval)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        jobs.failed(self.name, args, kwargs or {}, error=exc)

    def retry(  # type: ignore[override]
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        # Pending again until the back-off is over (if no retry is left, Celery raises and on_failure follows).
        request = self.request
        delay = countdown if countdown is not None else (self.default_retry_delay or 0)
        jobs.retrying(self.name, request.args or (), request.kwargs or {}, countdown=delay, error=exc)
        return super().retry(
            args=args,
            kwargs=kwargs,
            exc=exc,
            throw=throw,
            eta=eta,
            countdown=countdown,
            max_retries=max_retries,
            **options,
        )

    def give_up(self, reason: str) -> None:
        """This run ends without raising but without doing its job: the job is failed, with the reason."""
        jobs.failed(self.name, self.request.args or (), self.request.kwargs or {}, error=reason)
