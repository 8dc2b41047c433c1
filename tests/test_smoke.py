"""The quick start's promise: the shipped policies load and decide the seed article's headline cases."""

import policyengine


def test_shipped_policies_load_and_decide() -> None:
    engine = policyengine.load("policies")
    order = {"status": "Error", "has_shipment": True, "sent_to_warehouse": True,
             "store": {"id": "shop-without-override", "manual_fulfillment": True}}
    decisions = engine.evaluate(order, {"role": "member"})
    assert list(decisions) == ["reprocess", "edit", "reset", "archive", "delete", "force_delete",
                               "schedule_process", "revalidate"]
    assert decisions["reset"].state == "disabled"
    assert decisions["delete"].reasons == ("The order was already sent to the warehouse; archive it first.",)
    assert decisions["revalidate"].enabled
    assert decisions["force_delete"].state == "hidden"
