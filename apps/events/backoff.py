"""Doubling waits between retries, shared by the relay's loops."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Doubling waits from ``initial`` up to ``cap`` seconds; ``reset`` after a success."""

    initial: float = 0.5
    cap: float = 30.0
    current: float = 0.0

    @property
    def backing_off(self) -> bool:
        """True from a failure until the next ``reset``."""
        return self.current > 0

    def next(self) -> float:
        self.current = min(self.cap, self.current * 2 or self.initial)
        return self.current

    def reset(self) -> None:
        self.current = 0.0
