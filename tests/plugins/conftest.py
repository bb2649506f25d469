"""Helpers shared by the gateway and identity plugin tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Cheap key derivation for test nodes (the identity plugin's keystore).
FAST_KEYS = {"kdf": "pbkdf2", "kdf_iterations": 1000}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `condition` until it returns something truthy and return that; fail naming `what` if it never does.

    The condition is always checked at least once, and once more after the deadline has passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
