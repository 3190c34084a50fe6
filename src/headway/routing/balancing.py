"""Order a route's deployments for one request.

Weighted random choice for the first deployment, the rest after it in weight order, so
a failing first choice moves on to every other deployment exactly once.
"""

from __future__ import annotations

import random

from headway.routing.deployments import Deployment


def order_deployments(deployments: list[Deployment], rng: random.Random | None = None) -> list[Deployment]:
    if len(deployments) <= 1:
        return deployments
    pick = (rng or random).choices(deployments, weights=[d.weight for d in deployments], k=1)[0]
    rest = sorted((d for d in deployments if d is not pick), key=lambda d: -d.weight)
    return [pick, *rest]
