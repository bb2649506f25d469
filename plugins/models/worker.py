"""The models' worker thread: it owns all tinygrad work; trio hands it jobs, urgent ones first."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any

import trio

from . import device

URGENT, NORMAL, STOP = 1, 2, 0
THREAD = "colony-models"  # the name of every worker thread, so a new one can find an old one


class ServiceError(Exception):
    """A request the models service refuses: unknown model, bad example, bad weights, not running."""


class Worker:
    """The one thread that runs tinygrad: jobs in priority order, urgent ones also between training steps."""

    def __init__(self, on_exit: Callable[[], None] = lambda: None) -> None:
        self.on_exit = on_exit
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any] | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=THREAD, daemon=True)

    def submit(self, fn: Callable[[], Any], urgent: bool = False) -> Future[Any]:
        """Queue `fn`; its result or exception arrives in the returned future."""
        future: Future[Any] = Future()
        if self.stopping.is_set():
            future.set_exception(ServiceError("the models service is stopping"))
        else:
            self._queue.put((URGENT if urgent else NORMAL, next(self._order), fn, future))
        return future

    async def run(self, fn: Callable[[], Any], urgent: bool = False) -> Any:
        """Run `fn` on the worker thread and await its result without blocking trio."""
        return await wait(self.submit(fn, urgent))

    def serve_urgent(self) -> None:
        """Run every queued urgent job now (called between training steps, on the worker thread)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item[0] != URGENT:
                self._queue.put(item)
                return
            self._execute(item)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item[2] is None:
                break
            self._execute(item)
        self.on_exit()
        while True:  # whatever is left will never run
            try:
                _, _, _, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future is not None:
                future.cancel()

    @staticmethod
    def _execute(item: tuple[int, int, Callable[[], Any] | None, Future[Any] | None]) -> None:
        _, _, fn, future = item
        assert fn is not None and future is not None
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # delivered to the awaiting trio task, never lost
            future.set_exception(exc)

    def stop(self) -> None:
        """Ask the thread to finish its current job and exit."""
        self.stopping.set()
        self._queue.put((STOP, next(self._order), None, None))


def adopt_tinygrad(home: Path) -> str:
    """Make the calling worker tinygrad's only user in the process, set it up, and return its device.

    During a blue/green swap (or with two nodes in one process) the previous worker may still be
    running: tinygrad is not thread-safe, so this one waits for it to end.
    """
    me = threading.current_thread()
    for other in threading.enumerate():
        if other is not me and other.name == THREAD:
            other.join()
    name = device.setup(home)
    device.own_cache()
    return name


async def wait(future: Future[Any]) -> Any:
    """The result of a worker job, awaited without blocking trio."""
    token, done = trio.lowlevel.current_trio_token(), trio.Event()

    def wake(_: Future[Any]) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass

    future.add_done_callback(wake)
    await done.wait()
    try:
        return future.result()
    except CancelledError:
        raise ServiceError("the models service stopped before the job ran") from None
