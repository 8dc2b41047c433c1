"""The benchmark's policy with non-finite facts (``bench/policies/nonfinite.yaml``) and its hand-written equivalent.

The policy reads a number (``order.total``, compared with constants and with ``user.refund_limit``) and a set
(``order.tags``, membership tests), so the engine cannot specialise it into one table and runs its generated fast
path. :func:`handwritten_payments` is what a developer would write for it without the engine, reading the same dicts
(tags as a JSON-style list), in the same ``(action, label, state, reasons, confirm, effects)`` shape as
``bench.handwritten_menu``. bench.py checks that both decide alike on thousands of random orders before timing.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

POLICY = Path(__file__).resolve().parent / "policies" / "nonfinite.yaml"

STATUSES = ("New", "Open", "Shipped", "Error", "Cancelled")
ROLES = ("admin", "member", "viewer")
TAGS = ("fraud-review", "hold", "vip", "no-upgrade", "gift", "wholesale", "preorder")

READ_ONLY = ("Read-only users can't change orders.",)
CAPTURE_REVIEW = ("Payment capture is blocked while the order is under fraud review.",)
NOTHING_TO_CAPTURE = ("There is nothing to capture.",)
OVER_LIMIT = ("The order total exceeds your refund limit.",)
REFUND_REVIEW = ("Refunds are blocked while the order is under fraud review.",)
ON_HOLD = ("The order is on hold.",)
ADMIN_SHIPS = ("Orders over 1000 are shipped by an admin.",)
SMALL = ("A free upgrade needs a total of at least 49.99.",)
OPTED_OUT = ("The customer opted out of shipping upgrades.",)
REFUND_CONFIRM = "Refund the whole order total?"

CAPTURE_EFFECTS = (((), "capture_payment"),)
REFUND_EFFECTS = (((), "refund_payment"),)
REFUND_HIGH_EFFECTS = (((), "refund_payment"), ((), "notify_finance"))
SHIP_EFFECTS = (((("order.status", "Shipped"),), "create_shipment"),)
FLAG_EFFECTS = (((), "open_review"),)
FLAG_HIGH_EFFECTS = (((), "open_review"), ((), "notify_risk_team"))
CLEAR_EFFECTS = (((), "clear_review"),)
UPGRADE_EFFECTS = (((), "upgrade_shipping"),)
UPGRADE_VIP_EFFECTS = (((), "upgrade_shipping"), ((), "notify_vip_team"))

CAPTURE_HIDDEN = ("capture_payment", "Capture Payment", "hidden", ("Only for new and open orders.",), None, ())
REFUND_HIDDEN = ("refund", "Refund", "hidden", ("Only open and shipped orders can be refunded.",), REFUND_CONFIRM, ())
SHIP_HIDDEN = ("ship", "Ship", "hidden", ("Only open orders can be shipped.",), None, ())
FLAG_HIDDEN = ("flag_for_review", "Flag for Review", "hidden", ("The order is already under fraud review.",), None, ())
CLEAR_HIDDEN = ("clear_review", "Clear Review", "hidden", ("The order is not under fraud review.",), None, ())
CLEAR_ENABLED = ("clear_review", "Clear Review", "enabled", (), None, CLEAR_EFFECTS)
CLEAR_DISABLED = ("clear_review", "Clear Review", "disabled", ("Only admins can clear a fraud review.",), None,
                  CLEAR_EFFECTS)
UPGRADE_HIDDEN = ("upgrade_shipping", "Upgrade Shipping", "hidden", ("Only for orders not shipped yet.",), None, ())


def handwritten_payments(order: dict, user: dict) -> tuple[Any, ...]:
    """The Actions menu of ``bench/policies/nonfinite.yaml``, hand-written."""
    status = order["status"]
    total = order["total"]
    tags = order["tags"]
    role = user["role"]

    is_admin = role == "admin"
    if is_admin or role == "member":
        reasons: tuple[str, ...] = ()
    else:
        reasons = READ_ONLY
    high_value = total > 1000
    under_review = "fraud-review" in tags
    is_open = status == "Open"
    new_or_open = is_open or status == "New"

    if new_or_open:
        r = reasons
        if under_review:
            r += CAPTURE_REVIEW
        if total <= 0:
            r += NOTHING_TO_CAPTURE
        capture = ("capture_payment", "Capture Payment", "disabled" if r else "enabled", r, None, CAPTURE_EFFECTS)
    else:
        capture = CAPTURE_HIDDEN

    if is_open or status == "Shipped":
        r = reasons
        if total > user["refund_limit"]:
            r += OVER_LIMIT
        if under_review:
            r += REFUND_REVIEW
        refund = ("refund", "Refund", "disabled" if r else "enabled", r, REFUND_CONFIRM,
                  REFUND_HIGH_EFFECTS if high_value else REFUND_EFFECTS)
    else:
        refund = REFUND_HIDDEN

    if is_open:
        r = reasons
        if under_review or "hold" in tags:
            r += ON_HOLD
        if high_value and not is_admin:
            r += ADMIN_SHIPS
        ship = ("ship", "Ship", "disabled" if r else "enabled", r, None, SHIP_EFFECTS)
    else:
        ship = SHIP_HIDDEN

    if under_review:
        flag = FLAG_HIDDEN
        clear = CLEAR_ENABLED if is_admin else CLEAR_DISABLED
    else:
        flag = ("flag_for_review", "Flag for Review", "disabled" if reasons else "enabled", reasons, None,
                FLAG_HIGH_EFFECTS if high_value else FLAG_EFFECTS)
        clear = CLEAR_HIDDEN

    if new_or_open:
        r = reasons
        if total < 49.99:
            r += SMALL
        if "no-upgrade" in tags:
            r += OPTED_OUT
        upgrade = ("upgrade_shipping", "Upgrade Shipping", "disabled" if r else "enabled", r, None,
                   UPGRADE_VIP_EFFECTS if "vip" in tags else UPGRADE_EFFECTS)
    else:
        upgrade = UPGRADE_HIDDEN

    return capture, refund, ship, flag, clear, upgrade


def _total(rng: random.Random) -> int | float:
    pick = rng.random()
    if pick < 0.1:
        return rng.choice((0, 1000, 1000.0, 49.99, 50, -5, 1000.01, 999.99, 0.0))  # the boundaries
    if pick < 0.5:
        return rng.randint(0, 3000)
    return round(rng.uniform(0, 3000), 2)


def random_pairs(n: int, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` random (order, user) dicts: totals around the thresholds, 0-3 tags as a list, random refund limits."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        tags = rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2, 3)))
        order = {"id": i, "status": rng.choice(STATUSES), "total": _total(rng), "tags": tags}
        user = {"role": rng.choice(ROLES), "refund_limit": rng.choice((0, 100, 500, 1000, 1000.0, 2500.5, 5000))}
        pairs.append((order, user))
    return pairs
