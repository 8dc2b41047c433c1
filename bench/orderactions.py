"""The default policy's hand-written baselines and inputs (``policies/order-actions.yaml``) for bench/bench.py.

:func:`handwritten_menu` is a plain-Python function a competent developer would write for the default policy
without the engine. It reads the same facts from the same dicts (``order["status"]``, ``order["has_shipment"]``,
``order["sent_to_warehouse"]``, ``order["store"]["manual_fulfillment"]``, ``user["role"]``) and returns, for each of
the 8 actions in menu order, ``(action, label, state, reasons, confirm, effects)`` with effects as ``((sorted set
items), operation)`` pairs, using module-level constants for the fixed texts. It does not type-check its inputs (the
engine does, and fails closed on bad facts); that check is part of what the engine costs.
:func:`handwritten_menu_obj` is the same on objects (attribute access).

:func:`handwritten_store_menu` covers the whole ``policies/`` directory: it dispatches on ``order["store"]["id"]``
to hand-written versions of the ``acme`` and ``globex`` overrides (``policies/stores/``) and to
:func:`handwritten_menu` for any other store.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

import attrs

STATUSES = ("New", "Pending", "Queued", "Bundled", "Routed", "Open", "Partially Shipped", "Shipped", "Error",
            "Skipped", "Closed", "Abandoned", "Archived")
ROLES = ("admin", "member", "viewer")
STORES = ("acme", "globex", "no-override-store", "umbrella")
NO_OVERRIDE_STORES = ("no-override-store", "umbrella")
CHANNELS = ("shopify", "amazon", "woocommerce")

# ---------------------------------------------------------------------------------------------------------------
# The hand-written baseline: what a developer would write for policies/order-actions.yaml without the engine.
# ---------------------------------------------------------------------------------------------------------------

READ_ONLY = ("Read-only users can't change orders.",)
HAS_SHIPMENT = ("The order already has a shipment; resetting would re-process an order the warehouse has already "
                "worked.",)
SENT_TO_WAREHOUSE = ("The order was already sent to the warehouse; archive it first.",)

RESET_CONFIRM = "Reset is destructive. All processing, rule actions and manual edits on this order are lost."
DELETE_CONFIRM = "Delete this order permanently? It is not deleted from the sales channel and may be imported again."
FORCE_DELETE_CONFIRM = "Force-delete this order? This bypasses the sent-to-warehouse check; use sparingly."

# effects: ((sorted (fact, value) pairs), operation)
REPROCESS_ABANDONED = (((("order.status", "Open"),), None), ((), "retry_last_step"))
REPROCESS_ARCHIVED = (((), "resume_processing"),)
REPROCESS_OTHER = (((), "retry_last_step"),)
EDIT_EFFECTS = (((), "open_edit_form"),)
RESET_EFFECTS = (((("order.status", "New"),), "restart_processing"),)
ARCHIVE_EFFECTS = (((("order.status", "Archived"),), "stop_processing"),)
DELETE_EFFECTS = (((), "delete_order"),)
SCHEDULE_EFFECTS = (((), "schedule_processing"),)
REVALIDATE_EFFECTS = (((), "revalidate"),)

ARCHIVE_HIDDEN = ("archive", "Archive", "hidden", ("The order is already archived.",), None, ())
FORCE_DELETE_ENABLED = ("force_delete", "Force Delete", "enabled", (), FORCE_DELETE_CONFIRM, DELETE_EFFECTS)
FORCE_DELETE_HIDDEN = ("force_delete", "Force Delete", "hidden", ("Only account admins can force-delete orders.",),
                       FORCE_DELETE_CONFIRM, ())
SCHEDULE_HIDDEN = ("schedule_process", "Schedule Process", "hidden",
                   ("Only for Pending orders of stores with manual order fulfillment.",), None, ())
REVALIDATE_HIDDEN = ("revalidate", "Revalidate", "hidden",
                     ("Only for orders in Error of stores with manual order fulfillment.",), None, ())

Row = tuple[str, str, str, tuple[str, ...], "str | None", tuple[Any, ...]]


def handwritten_menu(order: dict, user: dict) -> tuple[Row, ...]:
    """The order's Actions menu, hand-written: one (action, label, state, reasons, confirm, effects) per action."""
    status = order["status"]
    has_shipment = order["has_shipment"]
    sent_to_warehouse = order["sent_to_warehouse"]
    manual = order["store"]["manual_fulfillment"]
    role = user["role"]

    is_admin = role == "admin"
    if is_admin or role == "member":
        state, reasons = "enabled", ()
    else:
        state, reasons = "disabled", READ_ONLY

    if status == "Abandoned":
        reprocess_effects = REPROCESS_ABANDONED
    elif status == "Archived":
        reprocess_effects = REPROCESS_ARCHIVED
    else:
        reprocess_effects = REPROCESS_OTHER

    if has_shipment:
        reset = ("reset", "Reset", "disabled", reasons + HAS_SHIPMENT, RESET_CONFIRM, RESET_EFFECTS)
    else:
        reset = ("reset", "Reset", state, reasons, RESET_CONFIRM, RESET_EFFECTS)
    if sent_to_warehouse:
        delete = ("delete", "Delete", "disabled", reasons + SENT_TO_WAREHOUSE, DELETE_CONFIRM, DELETE_EFFECTS)
    else:
        delete = ("delete", "Delete", state, reasons, DELETE_CONFIRM, DELETE_EFFECTS)

    return (
        ("reprocess", "Reprocess", state, reasons, None, reprocess_effects),
        ("edit", "Edit", state, reasons, None, EDIT_EFFECTS),
        reset,
        ARCHIVE_HIDDEN if status == "Archived" else ("archive", "Archive", state, reasons, None, ARCHIVE_EFFECTS),
        delete,
        FORCE_DELETE_ENABLED if is_admin else FORCE_DELETE_HIDDEN,
        ("schedule_process", "Schedule Process", state, reasons, None, SCHEDULE_EFFECTS)
        if manual and status == "Pending" else SCHEDULE_HIDDEN,
        ("revalidate", "Revalidate", state, reasons, None, REVALIDATE_EFFECTS)
        if manual and status == "Error" else REVALIDATE_HIDDEN,
    )


def handwritten_menu_obj(order: Any, user: Any) -> tuple[Row, ...]:
    """:func:`handwritten_menu` for order/user objects (attribute access); the body is the same."""
    status = order.status
    has_shipment = order.has_shipment
    sent_to_warehouse = order.sent_to_warehouse
    manual = order.store.manual_fulfillment
    role = user.role

    is_admin = role == "admin"
    if is_admin or role == "member":
        state, reasons = "enabled", ()
    else:
        state, reasons = "disabled", READ_ONLY

    if status == "Abandoned":
        reprocess_effects = REPROCESS_ABANDONED
    elif status == "Archived":
        reprocess_effects = REPROCESS_ARCHIVED
    else:
        reprocess_effects = REPROCESS_OTHER

    if has_shipment:
        reset = ("reset", "Reset", "disabled", reasons + HAS_SHIPMENT, RESET_CONFIRM, RESET_EFFECTS)
    else:
        reset = ("reset", "Reset", state, reasons, RESET_CONFIRM, RESET_EFFECTS)
    if sent_to_warehouse:
        delete = ("delete", "Delete", "disabled", reasons + SENT_TO_WAREHOUSE, DELETE_CONFIRM, DELETE_EFFECTS)
    else:
        delete = ("delete", "Delete", state, reasons, DELETE_CONFIRM, DELETE_EFFECTS)

    return (
        ("reprocess", "Reprocess", state, reasons, None, reprocess_effects),
        ("edit", "Edit", state, reasons, None, EDIT_EFFECTS),
        reset,
        ARCHIVE_HIDDEN if status == "Archived" else ("archive", "Archive", state, reasons, None, ARCHIVE_EFFECTS),
        delete,
        FORCE_DELETE_ENABLED if is_admin else FORCE_DELETE_HIDDEN,
        ("schedule_process", "Schedule Process", state, reasons, None, SCHEDULE_EFFECTS)
        if manual and status == "Pending" else SCHEDULE_HIDDEN,
        ("revalidate", "Revalidate", state, reasons, None, REVALIDATE_EFFECTS)
        if manual and status == "Error" else REVALIDATE_HIDDEN,
    )


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class StoreDC:
    id: str
    manual_fulfillment: bool


@dataclasses.dataclass(frozen=True, slots=True)
class OrderDC:
    id: int
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: StoreDC


@dataclasses.dataclass(frozen=True, slots=True)
class UserDC:
    role: str


@attrs.frozen(slots=True)
class StoreAttrs:
    id: str
    manual_fulfillment: bool


@attrs.frozen(slots=True)
class OrderAttrs:
    id: int
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: StoreAttrs


@attrs.frozen(slots=True)
class UserAttrs:
    role: str


Pair = tuple[Any, Any]


def make_order(i: int, status: str, has_shipment: bool, sent: bool, store: str, manual: bool,
               channel: str = "shopify") -> dict:
    return {"id": i, "status": status, "has_shipment": has_shipment, "sent_to_warehouse": sent, "channel": channel,
            "store": {"id": store, "manual_fulfillment": manual}}


def random_pairs(n: int, seed: int, stores: Sequence[str] = STORES) -> list[Pair]:
    """``n`` random (order, user) dicts; every fact uniform (``channel`` is read only by the acme override)."""
    rng = random.Random(seed)
    return [(make_order(i, rng.choice(STATUSES), rng.random() < 0.5, rng.random() < 0.5, rng.choice(stores),
                        rng.random() < 0.5, rng.choice(CHANNELS)), {"role": rng.choice(ROLES)}) for i in range(n)]


def all_pairs() -> list[Pair]:
    """The whole finite fact space: 13 x 2 x 2 x 2 x 3 = 312 (order, user) pairs."""
    return [(make_order(i, status, ship, sent, "acme", manual), {"role": role})
            for i, (status, ship, sent, manual, role) in enumerate(
                (s, a, b, m, r) for s in STATUSES for a in (False, True) for b in (False, True)
                for m in (False, True) for r in ROLES)]


def to_objects(pairs: Sequence[Pair], order_cls: type, store_cls: type, user_cls: type) -> list[Pair]:
    return [(order_cls(o["id"], o["status"], o["has_shipment"], o["sent_to_warehouse"],
                       store_cls(o["store"]["id"], o["store"]["manual_fulfillment"])), user_cls(u["role"]))
            for o, u in pairs]



# ---------------------------------------------------------------------------------------------------------------
# The store overrides of policies/stores/, hand-written, and the dispatch on the order's store
# ---------------------------------------------------------------------------------------------------------------

ACME_HAS_SHIPMENT = ("The warehouse already shipped part of this order; contact ACME ops instead of resetting it.",)
ACME_SHIPPED = ("ACME's warehouse has shipped this order; edits would not reach it.",)
ACME_AMAZON = ("Amazon orders are imported again after a delete; archive it instead.",)
ACME_ARCHIVE = "Archive (stop processing)"
ACME_ARCHIVE_HIDDEN = ("archive", ACME_ARCHIVE, "hidden", ("The order is already archived.",), None, ())
ACME_SHIPPED_STATUSES = frozenset(("Shipped", "Partially Shipped"))

GLOBEX_DELETE_CONFIRM = "Delete this Globex order? Globex's finance team must approve deletions; is it approved?"
GLOBEX_FORCE_DELETE_HIDDEN = ("force_delete", "Force Delete", "hidden", ("Globex never force-deletes orders.",),
                              FORCE_DELETE_CONFIRM, ())
CANCEL_CONFIRM = "Ask the warehouse to cancel this order?"
CANCEL_EFFECTS = (((), "request_warehouse_cancellation"),)
CANCEL_SHIPPED = ("The order has shipped; it can no longer be cancelled.",)
CANCEL_HIDDEN = ("request_cancellation", "Request Cancellation", "hidden", ("Only for orders the warehouse has.",),
                 CANCEL_CONFIRM, ())
AT_WAREHOUSE = frozenset(("Open", "Partially Shipped", "Shipped"))


def _reprocess_effects(status: str) -> tuple[Any, ...]:
    if status == "Abandoned":
        return REPROCESS_ABANDONED
    if status == "Archived":
        return REPROCESS_ARCHIVED
    return REPROCESS_OTHER


def handwritten_acme(order: dict, user: dict) -> tuple[Row, ...]:
    """policies/stores/acme.yaml over the default policy, hand-written."""
    status = order["status"]
    manual = order["store"]["manual_fulfillment"]
    role = user["role"]
    is_admin = role == "admin"
    if is_admin or role == "member":
        state, reasons = "enabled", ()
    else:
        state, reasons = "disabled", READ_ONLY

    if status in ACME_SHIPPED_STATUSES:
        edit = ("edit", "Edit", "disabled", reasons + ACME_SHIPPED, None, EDIT_EFFECTS)
    else:
        edit = ("edit", "Edit", state, reasons, None, EDIT_EFFECTS)
    if order["has_shipment"]:
        reset = ("reset", "Reset", "disabled", reasons + ACME_HAS_SHIPMENT, RESET_CONFIRM, RESET_EFFECTS)
    else:
        reset = ("reset", "Reset", state, reasons, RESET_CONFIRM, RESET_EFFECTS)
    r = reasons
    if order["sent_to_warehouse"]:
        r += SENT_TO_WAREHOUSE
    if order["channel"] == "amazon":
        r += ACME_AMAZON
    delete = ("delete", "Delete", "disabled" if r else "enabled", r, DELETE_CONFIRM, DELETE_EFFECTS)

    return (
        ("reprocess", "Reprocess", state, reasons, None, _reprocess_effects(status)),
        edit,
        reset,
        ACME_ARCHIVE_HIDDEN if status == "Archived" else ("archive", ACME_ARCHIVE, state, reasons, None,
                                                          ARCHIVE_EFFECTS),
        delete,
        FORCE_DELETE_ENABLED if is_admin else FORCE_DELETE_HIDDEN,
        ("schedule_process", "Schedule Process", state, reasons, None, SCHEDULE_EFFECTS)
        if manual and status == "Pending" else SCHEDULE_HIDDEN,
        ("revalidate", "Revalidate", state, reasons, None, REVALIDATE_EFFECTS)
        if manual and status == "Error" else REVALIDATE_HIDDEN,
    )


def handwritten_globex(order: dict, user: dict) -> tuple[Row, ...]:
    """policies/stores/globex.yaml over the default policy, hand-written."""
    status = order["status"]
    sent_to_warehouse = order["sent_to_warehouse"]
    manual = order["store"]["manual_fulfillment"]
    role = user["role"]
    if role == "admin" or role == "member":
        state, reasons = "enabled", ()
    else:
        state, reasons = "disabled", READ_ONLY

    if order["has_shipment"]:
        reset = ("reset", "Reset", "disabled", reasons + HAS_SHIPMENT, RESET_CONFIRM, RESET_EFFECTS)
    else:
        reset = ("reset", "Reset", state, reasons, RESET_CONFIRM, RESET_EFFECTS)
    if sent_to_warehouse:
        delete = ("delete", "Delete", "disabled", reasons + SENT_TO_WAREHOUSE, GLOBEX_DELETE_CONFIRM, DELETE_EFFECTS)
    else:
        delete = ("delete", "Delete", state, reasons, GLOBEX_DELETE_CONFIRM, DELETE_EFFECTS)
    if sent_to_warehouse and status in AT_WAREHOUSE:
        if status == "Shipped":
            cancel = ("request_cancellation", "Request Cancellation", "disabled", reasons + CANCEL_SHIPPED,
                      CANCEL_CONFIRM, CANCEL_EFFECTS)
        else:
            cancel = ("request_cancellation", "Request Cancellation", state, reasons, CANCEL_CONFIRM, CANCEL_EFFECTS)
    else:
        cancel = CANCEL_HIDDEN

    return (
        ("reprocess", "Reprocess", state, reasons, None, _reprocess_effects(status)),
        ("edit", "Edit", state, reasons, None, EDIT_EFFECTS),
        reset,
        ARCHIVE_HIDDEN if status == "Archived" else ("archive", "Archive", state, reasons, None, ARCHIVE_EFFECTS),
        delete,
        GLOBEX_FORCE_DELETE_HIDDEN,
        ("schedule_process", "Schedule Process", state, reasons, None, SCHEDULE_EFFECTS)
        if manual and status == "Pending" else SCHEDULE_HIDDEN,
        ("revalidate", "Revalidate", state, reasons, None, REVALIDATE_EFFECTS)
        if manual and status == "Error" else REVALIDATE_HIDDEN,
        cancel,
    )


def handwritten_store_menu(order: dict, user: dict) -> tuple[Row, ...]:
    """The whole policies/ directory, hand-written: dispatch on the order's store."""
    store = order["store"]["id"]
    if store == "acme":
        return handwritten_acme(order, user)
    if store == "globex":
        return handwritten_globex(order, user)
    return handwritten_menu(order, user)
