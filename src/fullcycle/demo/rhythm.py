"""How many checkouts a second the demo shop gets at a given moment, and what they buy.

The rhythm is a function of the time of day (UTC) and the day of the week: quiet at night, a
late-morning bump, the evening peak, weekends a bit quieter. `speed` compresses it: at speed 60
a day lasts 24 minutes. The backfill and the live traffic use the same function, so the
history the anomaly detector learns from is the rhythm it then sees.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DAY_SECONDS = 86_400
PRICES = {"mug": 12.5, "shirt": 25.0, "sticker": 2.0, "hoodie": 49.0}
"""As in examples/shop/shop.py."""
PRODUCT_WEIGHTS = {"mug": 0.35, "shirt": 0.25, "sticker": 0.3, "hoodie": 0.1}
QUANTITY_WEIGHTS = {1: 0.7, 2: 0.2, 3: 0.1}
BROWSE_SHARE = 0.3
"""Of the requests, this share is a look at the product list rather than a checkout."""
NIGHT_RATE = 5.0
"""Checkouts per second at the quietest hour: enough that half a minute of revenue varies by
about a tenth (at 2 a second it varied by a fifth, and on a busy machine the detector's band
then reached down to zero, so the bad release's empty half minute was not below it)."""


def checkouts_per_second(moment: float, speed: float = 1.0) -> float:
    """The expected checkout rate at unix time `moment` (seconds)."""
    demo_time = moment * speed
    hour = (demo_time % DAY_SECONDS) / 3600
    weekday = int(demo_time // DAY_SECONDS + 3) % 7  # 1970-01-01 was a Thursday: 0 is Monday
    daily = (
        1.2 * _bump(hour, 11.0, 2.5) + 2.0 * _bump(hour, 20.0, 2.2) + 0.6 * _bump(hour, 15.0, 3.0)
    )
    weekly = 0.85 if weekday >= 5 else 1.0
    return NIGHT_RATE + daily * weekly


def _bump(hour: float, centre: float, width: float) -> float:
    """A bell around `centre` that wraps around midnight."""
    distance = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-((distance / width) ** 2))


@dataclass(frozen=True)
class Purchase:
    product: str
    quantity: int

    @property
    def amount(self) -> float:
        return PRICES[self.product] * self.quantity


def random_purchase(rng: random.Random) -> Purchase:
    product = rng.choices(list(PRODUCT_WEIGHTS), weights=list(PRODUCT_WEIGHTS.values()))[0]
    quantity = rng.choices(list(QUANTITY_WEIGHTS), weights=list(QUANTITY_WEIGHTS.values()))[0]
    return Purchase(product, quantity)
