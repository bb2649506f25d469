"""`plugin.gateway.schemes`: exact alone by default, tempo-tip20 alone, and a refusal of unknown schemes."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from colony.plugins.gateway import tip20
from colony.plugins.gateway.wire import encode_header
from colony.plugins.identity.keys import Signer

from tests.plugins.gateway.conftest import PRICE, Gate, Pool, decode, sign_payment, start_node


def test_by_default_tip20_is_not_offered_and_is_refused_clearly(inproc: Gate) -> None:
    """schemes = ["exact"]: the 402 is unchanged, and a tip20 payment gets 402 unsupported_scheme."""
    account = inproc.payer()
    offer = dataclasses.replace(inproc.offer(), scheme=tip20.SCHEME, max_timeout=tip20.MAX_OFFER_TIMEOUT, extra={})
    before = (inproc.balance(account.address), inproc.txcount())
    response = inproc.pay(encode_header(tip20.sign(Signer(account, "payer"), offer, int(time.time()))))
    assert response.status_code == 402 and response.json()["x402Version"] == 2
    assert decode(response.headers["payment-required"])["error"].startswith("unsupported_scheme")
    assert [a["scheme"] for a in response.json()["accepts"]] == ["exact"]
    assert (inproc.balance(account.address), inproc.txcount()) == before


def test_a_tip20_only_node_offers_only_tip20(pool: Pool) -> None:
    """schemes = ["tempo-tip20"] (a node on Tempo, where exact cannot settle): one offer, in header and body."""
    gate = pool.get("tip20-only", gateway={"schemes": ["tempo-tip20"]})
    response = gate.http.get("/paid/joke")
    assert response.status_code == 402
    [entry] = response.json()["accepts"]
    assert entry["scheme"] == tip20.SCHEME and entry["amount"] == str(PRICE) and entry["facilitatorAddress"] == gate.facilitator
    [offer] = decode(response.headers["payment-required"])["accepts"]
    assert offer["scheme"] == tip20.SCHEME and offer["extra"] == {"facilitatorAddress": gate.facilitator}
    # An exact payment has no offer to match.
    standard = dataclasses.replace(gate.offer(), scheme="exact", max_timeout=300, extra={"name": gate.token_name, "version": gate.token_version})
    refused = gate.pay(encode_header(sign_payment(gate.payer(), standard, int(time.time()))))
    assert decode(refused.headers["payment-required"])["error"] == "No matching payment requirements"


@pytest.mark.parametrize("schemes", [[], ["upto"], ["exact", "tempo_tip20"]])
def test_unknown_schemes_stop_the_gateway_with_a_clear_reason(pool: Pool, tmp_path: Path, schemes: list[str]) -> None:
    """An empty list or a misspelt scheme fails the gateway's start, naming the option and the known schemes."""
    pool.close()  # one node per process
    with pytest.raises(RuntimeError, match="plugin.gateway.schemes must name one or more of exact, tempo-tip20"):
        start_node(tmp_path, gateway={"schemes": schemes})
