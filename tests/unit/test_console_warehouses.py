"""The console's warehouse choice (issue 34) without services: the user's configured warehouses
(validated ids), the signed cookie (bound to the person; forged or another person's is ignored)
and the choice checked against the user's list on every request, whatever is asked by hand."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from console.session import Viewer
from console.settings import ConfiguredUser
from console.warehouses import WAREHOUSE_COOKIE, Choice, Warehouse, choose, sign, unsign, warehouse_figures
from shared.auth import AuthSettings

AUTH = AuthSettings(auth_secret="unit-test-secret-0123456789-abcdefghijklmnop")
HASH = "pbkdf2_sha256$1$c2FsdA$aGFzaA"
THREE = [Warehouse("north", "North DC"), Warehouse("east", "East DC"), Warehouse("south", "South DC")]


class Listed:
    def __init__(self, known: list[Warehouse] | None) -> None:
        self.known = known

    async def get(self, console: Any, token: str) -> tuple[list[Warehouse] | None, str | None]:
        return self.known, None if self.known is not None else "The inventory service cannot be reached."


def console_with(known: list[Warehouse] | None, **users: list[str]) -> Any:
    return SimpleNamespace(auth=AUTH, warehouses=Listed(known),
                           users=SimpleNamespace(users={name: ConfiguredUser(roles=["warehouse"], password_hash=HASH,
                                                                            warehouses=ws)
                                                        for name, ws in users.items()}))


def request_with(cookie: str | None = None) -> Any:
    return SimpleNamespace(cookies={WAREHOUSE_COOKIE: cookie} if cookie else {})


def pick(console: Any, who: str, asked: str | None = None, cookie: str | None = None) -> Choice:
    viewer = Viewer(who, frozenset({"warehouse"}), "token")
    return asyncio.run(choose(console, request_with(cookie), viewer, asked))


def test_configured_warehouses_are_validated_ids() -> None:
    assert ConfiguredUser(roles=["warehouse"], password_hash=HASH).warehouses == []
    assert ConfiguredUser(roles=["warehouse"], password_hash=HASH, warehouses=["east", "n-1"]).warehouses == ["east", "n-1"]
    for bad in (["east", "east"], ["ea st"], ["еast"], ["x" * 65], [""]):  # "еast": a Cyrillic е
        with pytest.raises(ValidationError):
            ConfiguredUser(roles=["warehouse"], password_hash=HASH, warehouses=bad)


def test_a_restricted_picker_gets_their_warehouse_whatever_they_ask_for() -> None:
    console = console_with(THREE, picker=["east"])
    choice = pick(console, "picker")
    assert (choice.id, [w.id for w in choice.options], choice.message, choice.several) == ("east", ["east"], None, True)
    asked = pick(console, "picker", "north")
    assert asked.id == "east" and not asked.remember
    assert asked.message == "You work in East DC only; north is not one of your warehouses. Showing East DC."
    for hostile in ("x" * 5000, "nоrth", "../north", "north\x00", "<script>"):  # "nоrth": a Cyrillic о
        refused = pick(console, "picker", hostile)
        assert refused.id == "east" and "is not a warehouse id" in (refused.message or "")
        assert len(refused.message or "") < 300
    assert pick(console, "picker", "nowhere").message == ("You work in East DC only; nowhere is not one of your "
                                                         "warehouses. Showing East DC.")


def test_an_unrestricted_person_switches_and_the_cookie_remembers_only_what_they_may_use() -> None:
    console = console_with(THREE, boss=[], picker=["east"])
    first = pick(console, "boss")
    assert first.id == "north" and [w.id for w in first.options] == ["north", "east", "south"]
    switched = pick(console, "boss", "south")
    assert switched.id == "south" and switched.remember
    cookie = sign(AUTH, "boss", "south")
    assert pick(console, "boss", cookie=cookie).id == "south"
    assert pick(console, "boss", "south", cookie=cookie).remember is False  # nothing new to remember
    assert pick(console, "boss", "mars").message == "There is no warehouse mars. Showing North DC."
    # Another person's cookie, a forged one, one signed with another secret: ignored.
    assert pick(console, "picker", cookie=sign(AUTH, "picker", "north")).id == "east"
    assert pick(console, "boss", cookie=sign(AUTH, "picker", "south")).id == "north"
    assert unsign(AUTH, "boss", cookie.rpartition(".")[0] + ".00000000000000000000000000000000") is None
    other = AuthSettings(auth_secret="another-secret-0123456789-abcdefghijklmnopqrst")
    assert pick(console, "boss", cookie=sign(other, "boss", "south")).id == "north"
    assert unsign(AUTH, "boss", "garbage") is None and unsign(AUTH, "boss", "a." * 600) is None


def test_without_inventory_the_persons_own_list_or_main() -> None:
    console = console_with(None, picker=["east", "south"], boss=[])
    choice = pick(console, "picker", "south")
    assert (choice.id, [w.id for w in choice.options]) == ("south", ["east", "south"])
    assert choice.known_error
    assert pick(console, "boss").id == "main" and not pick(console, "boss").several


def test_one_warehouse_main_behaves_as_before() -> None:
    choice = pick(console_with([Warehouse("main", "main")], boss=[]), "boss")
    assert (choice.id, choice.several, choice.sla_params(), choice.message) == ("main", False, {}, None)


def test_per_warehouse_rows_come_from_by_warehouse_with_each_at_risk_count() -> None:
    counts = {"orders_paid": 3, "shipped": 1, "not_yet_shipped": 2, "within_24h_pct": 33.3, "within_48h_pct": 33.3,
              "meets_24h_target": False, "meets_48h_target": False}
    asked: list[dict[str, Any]] = []

    async def get(service: str, path: str, token: str, **params: Any) -> dict[str, Any]:
        asked.append({"service": service, "path": path, **params})
        return {"at_risk": {"count": {"east": 1, "north": 0}[params["warehouse"]]}}

    async def attempt(call: Any) -> tuple[Any, str | None]:
        return await call, None

    console = SimpleNamespace(warehouses=Listed(THREE), up=SimpleNamespace(get=get), attempt=attempt)
    rows, error = asyncio.run(warehouse_figures(console, "t", {"by_warehouse": {"north": counts, "east": counts}}))
    assert error is None and [(r["warehouse"], r["name"], r["at_risk"], r["shipped"]) for r in rows] == [
        ("east", "East DC", 1, 1), ("north", "North DC", 0, 1)]
    assert {a["warehouse"] for a in asked} == {"east", "north"} and {a["at_risk_limit"] for a in asked} == {0}
    # Only main (no warehouses configured), or no answer: nothing to break down, nothing asked.
    asked.clear()
    assert asyncio.run(warehouse_figures(console, "t", {"by_warehouse": {"main": counts}})) == (None, None)
    assert asyncio.run(warehouse_figures(console, "t", None)) == (None, None) and asked == []


def test_the_list_is_kept_a_few_seconds_answer_or_failure() -> None:
    from console.upstream import UpstreamError
    from console.warehouses import WarehouseList

    calls: list[str] = []
    answers: list[Any] = [UpstreamError("inventory", "The inventory service cannot be reached."),
                          {"warehouses": [{"id": "east", "name": "East DC"}, {"id": "bad id"}, "junk"]}]

    async def get(service: str, path: str, token: str, **params: Any) -> Any:
        calls.append(path)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def attempt(call: Any) -> tuple[Any, str | None]:
        try:
            return await call, None
        except UpstreamError as exc:
            return None, exc.message

    console = SimpleNamespace(up=SimpleNamespace(get=get), attempt=attempt)
    listed = WarehouseList()

    async def twice() -> list[Any]:
        return [await listed.get(console, "t"), await listed.get(console, "t")]

    assert asyncio.run(twice()) == [(None, "The inventory service cannot be reached.")] * 2 and calls == ["/warehouses"]
    listed._at -= 10  # the failure has been kept long enough
    assert asyncio.run(twice())[1] == ([Warehouse("east", "East DC")], None) and len(calls) == 2


def test_a_step_is_checked_against_the_shipments_warehouse_and_not_done_unchecked() -> None:
    from console.pages.dispatch import check_warehouse
    from console.upstream import UpstreamError

    shipments = {"S-E": {"shipment_id": "S-E", "warehouse": "east"}, "S-N": {"shipment_id": "S-N", "warehouse": "north"}}
    asked: list[str] = []

    async def get(service: str, path: str, token: str, **params: Any) -> Any:
        asked.append(path)
        if path == "/dock":
            return {"shipments": [shipments["S-E"]]}
        shipment_id = path.rsplit("/", 1)[1]
        if shipment_id == "S-DOWN":
            raise UpstreamError("logistics", "The logistics (dispatch) service did not answer in time.", None)
        if shipment_id not in shipments:
            raise UpstreamError("logistics", "No shipment.", 404)
        return shipments[shipment_id]

    async def attempt(call: Any) -> tuple[Any, str | None]:
        return await call, None

    console = SimpleNamespace(up=SimpleNamespace(get=get), attempt=attempt)
    viewer = Viewer("picker", frozenset({"warehouse"}), "t")
    east = Choice(current=Warehouse("east", "East DC"), options=[Warehouse("east", "East DC")], several=True)

    def check(ids: list[str], choice: Choice = east) -> str | None:
        asked.clear()
        return asyncio.run(check_warehouse(console, viewer, choice, ids))

    assert check(["S-E"]) is None and asked == ["/shipments/S-E"]
    assert check(["S-N"]) == ("Shipment S-N is in warehouse north, not East DC where you are working; "
                              "this is not done here.")
    assert check(["S-NONE"]) is None  # logistics says "no shipment" itself
    assert check(["S-DOWN"]) == ("Could not check which warehouse shipment S-DOWN is in: The logistics (dispatch) "
                                 "service did not answer in time.")
    assert check(["S-E", "S-N"]).startswith("Shipment S-N is in warehouse north")  # type: ignore[union-attr]
    assert asked == ["/dock", "/shipments/S-N"]  # the dock's own parcels need no lookup
    main_only = Choice(current=Warehouse("main", "main"), options=[Warehouse("main", "main")], several=False)
    assert check(["S-N"], main_only) is None and asked == []  # one warehouse: nothing asked, as before
