"""A simulated lab: ``k`` test channels and a clock in hours.

An experiment occupies one channel from the moment it starts until its duration has
passed; results come back in order of completion, not of suggestion. Experiments
that end at the same lab time come back together (in the order they started), so
the strategy is asked once they are all recorded.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from doe.exceptions import DoeError

__all__ = ["HOURS_PER_DAY", "LabExperiment", "SimulatedLab"]

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class LabExperiment:
    """One experiment on a channel.

    Attributes:
        trial_id: The ledger's trial number.
        channel: The channel it occupies (0 to ``k - 1``).
        start_h: Lab time it started, hours.
        end_h: Lab time its result comes back, hours.
        payload: Whatever the caller attached (the simulator's result), handed
            back at completion.
    """

    trial_id: int
    channel: int
    start_h: float
    end_h: float
    payload: Any = None


class SimulatedLab:
    """Test channels and a clock.

    Args:
        channels: Number of test channels, >= 1.

    Raises:
        DoeError: ``channels`` is not a whole number >= 1.

    Example:
        >>> lab = SimulatedLab(2)
        >>> _ = lab.start(0, duration_h=48.0)
        >>> _ = lab.start(1, duration_h=24.0)
        >>> [e.trial_id for e in lab.finish_next()], lab.now_h
        ([1], 24.0)
    """

    def __init__(self, channels: int) -> None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise DoeError(
                f"The lab needs a whole number of channels >= 1; got {channels=}."
            )
        self.channels = channels
        self.now_h = 0.0
        self._free = list(range(channels))
        self._running: list[tuple[float, int, LabExperiment]] = []
        self._seq = 0

    @property
    def n_free(self) -> int:
        """Channels free now."""
        return len(self._free)

    @property
    def n_running(self) -> int:
        """Experiments running now."""
        return len(self._running)

    @property
    def lab_days(self) -> float:
        """The clock in days."""
        return self.now_h / HOURS_PER_DAY

    def running(self) -> list[LabExperiment]:
        """The running experiments, by end time."""
        return [e for _, _, e in sorted(self._running)]

    def start(
        self, trial_id: int, *, duration_h: float, payload: Any = None
    ) -> LabExperiment:
        """Start an experiment now on the lowest free channel.

        Raises:
            DoeError: No channel is free, or the duration is not finite and >= 0.
        """
        if not self._free:
            raise DoeError(
                f"All {self.channels} channels are busy; trial {trial_id} cannot start "
                "before one finishes (call finish_next first)."
            )
        if not math.isfinite(duration_h) or duration_h < 0:
            raise DoeError(
                f"Trial {trial_id}: duration must be a finite number of hours >= 0; "
                f"got {duration_h=}."
            )
        channel = heapq.heappop(self._free)
        exp = LabExperiment(
            trial_id, channel, self.now_h, self.now_h + duration_h, payload
        )
        heapq.heappush(self._running, (exp.end_h, self._seq, exp))
        self._seq += 1
        return exp

    def finish_next(self) -> list[LabExperiment]:
        """Advance the clock to the next completion; the experiments ending then.

        Returns:
            Every experiment ending at that time, in the order they started; their
            channels are free again.

        Raises:
            DoeError: Nothing is running.
        """
        if not self._running:
            raise DoeError("No experiment is running; nothing can finish.")
        end_h = self._running[0][0]
        done = []
        while self._running and self._running[0][0] == end_h:
            _, _, exp = heapq.heappop(self._running)
            heapq.heappush(self._free, exp.channel)
            done.append(exp)
        self.now_h = max(self.now_h, end_h)
        return done
