"""Prior mean functions of the outcome GPs.

`QuadraticMean` is the trend of universal kriging with a second-order response
surface: the GP models what a quadratic in each input leaves unexplained. Fitted
on standardised outcomes over the unit cube, its coefficients have zero-mean
normal priors, so with few measurements it shrinks to the usual constant mean.

Why: a campaign looks for an optimum, where the outcome peaks. A constant-mean GP
fitted on noisy data pulls the peak towards the average of the data (it
under-predicts the best cells); a quadratic trend follows the peak. Measured with
`make bench-ceiling` and in replays of the simulated cell (see the CHANGELOG).
"""

from __future__ import annotations

import torch
from gpytorch.means import Mean
from gpytorch.priors import NormalPrior
from torch import Tensor

__all__ = ["MEAN_FUNCTIONS", "QuadraticMean", "check_mean", "make_mean"]

MEAN_FUNCTIONS = ("constant", "quadratic")

LINEAR_PRIOR_SD = 1.0  # standardised outcome per unit of the unit cube
QUADRATIC_PRIOR_SD = 4.0  # (x - 0.5)^2 is at most 0.25: the same scale as above


class QuadraticMean(Mean):  # type: ignore[misc]  # gpytorch ships no type hints
    """``c + sum_i b_i (x_i - 1/2) + sum_i a_i (x_i - 1/2)^2`` (no cross terms).

    `2 d + 1` coefficients, so it stays identifiable with a few times `d`
    measurements; a full quadratic would need `(d + 1)(d + 2) / 2`.

    Args:
        d: Input dimension (inputs normalised to the unit cube).
        batch_shape: Batch shape of the GP (one mean per outcome of a batched GP).
    """

    def __init__(self, d: int, batch_shape: torch.Size = torch.Size()) -> None:  # noqa: B008  # torch's own default
        super().__init__()
        self.batch_shape = batch_shape
        self.register_parameter(
            "constant", torch.nn.Parameter(torch.zeros(*batch_shape, 1))
        )
        self.register_parameter(
            "linear", torch.nn.Parameter(torch.zeros(*batch_shape, d, 1))
        )
        self.register_parameter(
            "quadratic", torch.nn.Parameter(torch.zeros(*batch_shape, d, 1))
        )
        self.register_prior("linear_prior", NormalPrior(0.0, LINEAR_PRIOR_SD), "linear")
        self.register_prior(
            "quadratic_prior", NormalPrior(0.0, QUADRATIC_PRIOR_SD), "quadratic"
        )

    def forward(self, x: Tensor) -> Tensor:
        """`... x n x d` -> `... x n`."""
        centred = x - 0.5
        linear = (centred @ self.linear).squeeze(-1)
        quadratic = (centred.square() @ self.quadratic).squeeze(-1)
        value: Tensor = self.constant + linear + quadratic
        return value


def check_mean(mean: object) -> str:
    """Return ``mean`` if it names a known mean function, else raise ValueError."""
    if mean not in MEAN_FUNCTIONS:
        known = ", ".join(map(repr, MEAN_FUNCTIONS))
        raise ValueError(f"mean={mean!r} is not known; choose one of {known}.")
    return str(mean)


def make_mean(mean: str, d: int, batch_shape: torch.Size = torch.Size()) -> Mean | None:  # noqa: B008
    """The mean module for ``mean`` (None: BoTorch's default constant mean)."""
    if check_mean(mean) == "constant":
        return None
    return QuadraticMean(d, batch_shape)
