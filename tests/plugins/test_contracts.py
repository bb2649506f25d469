"""The Vyper contracts: artifacts match their sources, and the deployed contracts behave per EIP-3009 / ERC-8004."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

pytest.importorskip("web3", reason="web3 is not installed")
pytest.importorskip("eth_tester", reason="eth-tester is not installed")

from eth_account import Account  # noqa: E402
from eth_utils import function_signature_to_4byte_selector, keccak  # noqa: E402
from web3 import Web3  # noqa: E402
from web3.contract import Contract  # noqa: E402
from web3.exceptions import ContractLogicError  # noqa: E402
from web3.logs import DISCARD  # noqa: E402
from web3.providers.eth_tester import EthereumTesterProvider  # noqa: E402

from colony.plugins.chain import build  # noqa: E402

try:
    from eth_tester.exceptions import TransactionFailed
except ImportError:  # pragma: no cover
    TransactionFailed = ContractLogicError  # type: ignore[misc,assignment]

REVERTS = (ContractLogicError, TransactionFailed)
PAYER = Account.from_key(b"\x11" * 32)  # signs authorizations; holds tokens but no ether
TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION = "Colony Dollar", "CUSD", "1"
FAR_FUTURE = 2**40


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def w3() -> Web3:
    """A fresh in-process eth-tester (py-evm) chain."""
    return Web3(EthereumTesterProvider())


def deploy(w3: Web3, name: str, *args: Any) -> Contract:
    """Deploy a contract from its committed artifact, from the first funded account."""
    art = build.load_artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(*args).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


@pytest.fixture(scope="module")
def token(w3: Web3) -> Contract:
    """The stablecoin, deployed by accounts[0] (the minter)."""
    return deploy(w3, "stablecoin", TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION)


@pytest.fixture(scope="module")
def identity(w3: Web3) -> Contract:
    """A fresh ERC-8004 identity registry."""
    return deploy(w3, "identity")


def sign_transfer(
    token: Contract,
    *,
    to: str,
    value: int,
    nonce: bytes,
    valid_after: int = 0,
    valid_before: int = FAR_FUTURE,
    name: str | None = None,
    version: str | None = None,
    chain_id: int | None = None,
    key: bytes = PAYER.key,
) -> dict[str, Any]:
    """Sign an EIP-3009 TransferWithAuthorization with eth-account (EIP-712)."""
    domain = {
        "name": name if name is not None else token.functions.name().call(),
        "version": version if version is not None else token.functions.version().call(),
        "chainId": chain_id if chain_id is not None else token.w3.eth.chain_id,
        "verifyingContract": token.address,
    }
    # Retyped from EIP-3009 on purpose, not imported from colony.plugins.gateway.exact: this is the
    # oracle the contract is checked against, so a wrong field in the plugin cannot make both agree.
    types = {
        "TransferWithAuthorization": [
            {"name": "from", "type": "address"},
            {"name": "to", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "validAfter", "type": "uint256"},
            {"name": "validBefore", "type": "uint256"},
            {"name": "nonce", "type": "bytes32"},
        ]
    }
    message = {
        "from": Account.from_key(key).address,
        "to": to,
        "value": value,
        "validAfter": valid_after,
        "validBefore": valid_before,
        "nonce": nonce,
    }
    signed = Account.sign_typed_data(key, domain, types, message)
    return {"message": message, "signed": signed}


def twa_vrs(token: Contract, auth: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The (v, r, s) transferWithAuthorization call for a signed authorization."""
    m, s = auth["message"], auth["signed"]
    return token.get_function_by_signature(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
    )(
        m["from"], m["to"], m["value"], m["validAfter"], m["validBefore"], m["nonce"],
        s.v, s.r.to_bytes(32, "big"), s.s.to_bytes(32, "big"),
    )


# ---------------------------------------------------------------- artifacts


def test_artifacts_match_sources() -> None:
    if importlib.util.find_spec("vyper") is None:
        pytest.skip("vyper is not installed: cannot recompile the contracts")
    assert build.contract_names() == ["identity", "reputation", "stablecoin"]
    assert build.stale_artifacts() == [], "run: python -m colony.plugins.chain.build"
    for name in build.contract_names():
        art = build.load_artifact(name)
        assert art["compiler"] == build.compiler_version()
        assert art["contract"] == name and art["bytecode"].startswith("0x")


# ---------------------------------------------------------------- stablecoin


def test_stablecoin_erc20_basics(w3: Web3, token: Contract) -> None:
    minter, alice, bob = w3.eth.accounts[:3]
    assert token.functions.decimals().call() == 6
    assert token.functions.name().call() == TOKEN_NAME
    assert token.functions.minter().call() == minter
    token.functions.mint(alice, 1_000_000).transact({"from": minter})
    with pytest.raises(REVERTS):
        token.functions.mint(alice, 1).transact({"from": alice})
    token.functions.transfer(bob, 250_000).transact({"from": alice})
    token.functions.approve(bob, 100_000).transact({"from": alice})
    token.functions.transferFrom(alice, bob, 100_000).transact({"from": bob})
    assert token.functions.balanceOf(alice).call() == 650_000
    assert token.functions.balanceOf(bob).call() == 350_000
    assert token.functions.allowance(alice, bob).call() == 0
    with pytest.raises(REVERTS):
        token.functions.transferFrom(alice, bob, 1).transact({"from": bob})


def test_domain_separator_matches_eip712(w3: Web3, token: Contract) -> None:
    from eth_abi import encode

    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak(TOKEN_NAME.encode()),
                keccak(TOKEN_VERSION.encode()),
                w3.eth.chain_id,
                token.address,
            ],
        )
    )
    assert token.functions.DOMAIN_SEPARATOR().call() == expected


def test_transfer_with_authorization(w3: Web3, token: Contract) -> None:
    minter, facilitator, pay_to = w3.eth.accounts[0], w3.eth.accounts[3], w3.eth.accounts[4]
    token.functions.mint(PAYER.address, 5_000_000).transact({"from": minter})
    before_payer = token.functions.balanceOf(PAYER.address).call()
    before_to = token.functions.balanceOf(pay_to).call()
    nonce = keccak(b"nonce-1")
    assert token.functions.authorizationState(PAYER.address, nonce).call() is False

    auth = sign_transfer(token, to=pay_to, value=1_234_567, nonce=nonce)
    tx = twa_vrs(token, auth).transact({"from": facilitator})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1

    assert token.functions.balanceOf(PAYER.address).call() == before_payer - 1_234_567
    assert token.functions.balanceOf(pay_to).call() == before_to + 1_234_567
    assert token.functions.authorizationState(PAYER.address, nonce).call() is True
    (transfer,) = token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert (transfer.args.sender, transfer.args.receiver, transfer.args.value) == (PAYER.address, pay_to, 1_234_567)
    assert transfer.address == token.address
    (used,) = token.events.AuthorizationUsed().process_receipt(receipt, errors=DISCARD)
    assert (used.args.authorizer, used.args.nonce) == (PAYER.address, nonce)

    # Replaying the very same authorization fails: the nonce is spent.
    with pytest.raises(REVERTS):
        twa_vrs(token, auth).transact({"from": facilitator})


def test_transfer_with_authorization_bytes_signature(w3: Web3, token: Contract) -> None:
    minter, facilitator, pay_to = w3.eth.accounts[0], w3.eth.accounts[3], w3.eth.accounts[5]
    token.functions.mint(PAYER.address, 100).transact({"from": minter})
    selector = function_signature_to_4byte_selector(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
    )
    assert selector.hex() == "cf092995"
    fn = token.get_function_by_signature(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
    )
    for i, v_offset in enumerate((0, -27)):  # v as 27/28 and as 0/1
        auth = sign_transfer(token, to=pay_to, value=10, nonce=keccak(b"bytes-%d" % i))
        m, s = auth["message"], auth["signed"]
        sig = s.r.to_bytes(32, "big") + s.s.to_bytes(32, "big") + bytes([s.v + v_offset])
        call = fn(m["from"], m["to"], m["value"], m["validAfter"], m["validBefore"], m["nonce"], sig)
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": facilitator}))
        assert receipt["status"] == 1
        with pytest.raises(REVERTS):
            call.transact({"from": facilitator})
    assert token.functions.balanceOf(pay_to).call() == 20


@pytest.mark.parametrize(
    "override",
    [
        {"name": "USD Coin"},
        {"version": "2"},
        {"chain_id": 1},
        {"valid_before": 1},  # expired
        {"valid_after": FAR_FUTURE - 1},  # not yet valid
        {"key": b"\x22" * 32},  # signed by someone other than `from`
    ],
    ids=["wrong-name", "wrong-version", "wrong-chain", "expired", "not-yet-valid", "wrong-signer"],
)
def test_transfer_with_authorization_rejects(w3: Web3, token: Contract, override: dict[str, Any]) -> None:
    minter, facilitator, pay_to = w3.eth.accounts[0], w3.eth.accounts[3], w3.eth.accounts[6]
    token.functions.mint(PAYER.address, 1_000).transact({"from": minter})
    nonce = keccak(repr(override).encode())
    auth = sign_transfer(token, to=pay_to, value=1_000, nonce=nonce, **override)
    auth["message"]["from"] = PAYER.address  # the wrong-signer case still claims PAYER
    with pytest.raises(REVERTS):
        twa_vrs(token, auth).transact({"from": facilitator})
    assert token.functions.authorizationState(PAYER.address, nonce).call() is False
    assert token.functions.balanceOf(pay_to).call() == 0


def test_unknown_selector_reverts(w3: Web3, token: Contract) -> None:
    with pytest.raises(REVERTS):
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": token.address, "data": "0xdeadbeef"})


# ---------------------------------------------------------------- identity


def test_register_selectors(identity: Contract) -> None:
    selectors = {
        "register()": "0x1aa3a008",
        "register(string)": "0xf2c298be",
        "register(string,(string,bytes)[])": "0x8ea42286",
    }
    for signature, expected in selectors.items():
        assert "0x" + function_signature_to_4byte_selector(signature).hex() == expected
        assert identity.get_function_by_signature(signature).abi["name"] == "register"
    assert (
        "0x" + keccak(b"Registered(uint256,string,address)").hex()
        == "0xca52e62c367d81bb2e328eb795f7c7ba24afb478408a26c0e201d155c449bc4a"
    )


def test_identity_register_and_uri(w3: Web3, identity: Contract) -> None:
    owner, stranger = w3.eth.accounts[1], w3.eth.accounts[2]
    assert identity.functions.name().call() == "AgentIdentity"
    assert identity.functions.symbol().call() == "AGENT"
    calls = [
        (identity.get_function_by_signature("register()")(), ""),
        (identity.get_function_by_signature("register(string)")("ipfs://one"), "ipfs://one"),
        (
            identity.get_function_by_signature("register(string,(string,bytes)[])")(
                "https://agent.example/reg.json", [("role", b"seller"), ("price", b"\x01\x02")]
            ),
            "https://agent.example/reg.json",
        ),
    ]
    for expected_id, (call, uri) in enumerate(calls):
        assert call.call({"from": owner}) == expected_id  # agentIds start at 0
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": owner}))
        (registered,) = identity.events.Registered().process_receipt(receipt, errors=DISCARD)
        assert registered.args.agentId == expected_id
        assert registered.args.agentURI == uri
        assert registered.args.owner == owner
        assert receipt["logs"][-1]["topics"][0].hex().removeprefix("0x") == (
            "ca52e62c367d81bb2e328eb795f7c7ba24afb478408a26c0e201d155c449bc4a"
        )
        sets = identity.events.MetadataSet().process_receipt(receipt, errors=DISCARD)
        assert sets[0].args.metadataKey == "agentWallet"
        assert sets[0].args.metadataValue == bytes.fromhex(owner[2:])
        assert identity.functions.ownerOf(expected_id).call() == owner
        assert identity.functions.tokenURI(expected_id).call() == uri
    assert identity.functions.balanceOf(owner).call() == 3
    assert identity.functions.getAgentWallet(0).call() == owner

    # Metadata given at registration, and set later by the owner only.
    assert identity.functions.getMetadata(2, "role").call() == b"seller"
    assert identity.functions.getMetadata(2, "price").call() == b"\x01\x02"
    assert identity.functions.getMetadata(2, "missing").call() == b""
    identity.functions.setMetadata(0, "role", b"buyer").transact({"from": owner})
    assert identity.functions.getMetadata(0, "role").call() == b"buyer"
    with pytest.raises(REVERTS):
        identity.functions.setMetadata(0, "role", b"x").transact({"from": stranger})
    with pytest.raises(REVERTS):
        identity.functions.setMetadata(0, "agentWallet", b"x").transact({"from": owner})

    # setAgentURI: owner yes (URIUpdated), stranger no.
    receipt = w3.eth.wait_for_transaction_receipt(
        identity.functions.setAgentURI(0, "data:application/json;base64,e30=").transact({"from": owner})
    )
    (updated,) = identity.events.URIUpdated().process_receipt(receipt, errors=DISCARD)
    assert (updated.args.agentId, updated.args.newURI, updated.args.updatedBy) == (
        0, "data:application/json;base64,e30=", owner,
    )
    assert identity.functions.tokenURI(0).call() == "data:application/json;base64,e30="
    with pytest.raises(REVERTS):
        identity.functions.setAgentURI(0, "ipfs://evil").transact({"from": stranger})
    assert identity.functions.tokenURI(0).call() == "data:application/json;base64,e30="
    with pytest.raises(REVERTS):
        identity.functions.tokenURI(99).call()

    # Transfer moves ownership and clears the agent wallet.
    identity.functions.transferFrom(owner, stranger, 1).transact({"from": owner})
    assert identity.functions.ownerOf(1).call() == stranger
    assert identity.functions.getAgentWallet(1).call() == "0x" + "0" * 40


# ---------------------------------------------------------------- reputation


def test_reputation_feedback_and_summary(w3: Web3) -> None:
    registry = deploy(w3, "identity")
    reputation = deploy(w3, "reputation", registry.address)
    owner, client_a, client_b = w3.eth.accounts[7], w3.eth.accounts[8], w3.eth.accounts[9]
    assert reputation.functions.getIdentityRegistry().call() == registry.address
    registry.functions.register().transact({"from": owner})  # agentId 0

    def give(client: str, value: int, decimals: int = 0, tag1: str = "quality") -> Any:
        return reputation.functions.giveFeedback(
            0, value, decimals, tag1, "", "https://agent.example/api", "ipfs://fb", b"\x00" * 32
        ).transact({"from": client})

    receipt = w3.eth.wait_for_transaction_receipt(give(client_a, 80))
    (event,) = reputation.events.NewFeedback().process_receipt(receipt, errors=DISCARD)
    assert (event.args.agentId, event.args.clientAddress, event.args.feedbackIndex) == (0, client_a, 1)
    give(client_a, 90)
    give(client_b, 100)
    give(client_b, -50, tag1="speed")

    assert reputation.functions.getClients(0).call() == [client_a, client_b]
    assert reputation.functions.getLastIndex(0, client_a).call() == 2
    summary = reputation.functions.getSummary
    assert summary(0, [client_a], "", "").call() == [2, 85, 0]
    assert summary(0, [client_a, client_b], "quality", "").call() == [3, 90, 0]
    assert summary(0, [client_a, client_b], "", "").call() == [4, 55, 0]
    assert summary(0, [client_b], "speed", "").call() == [1, -50, 0]

    # Mixed decimals: 4.5 (45 with 1 decimal) next to 80 and 90 -> the average in 1 decimal, truncated.
    give(client_a, 45, decimals=1)
    assert summary(0, [client_a], "", "").call() == [3, 581, 1]  # (80 + 90 + 4.5) / 3 = 58.1(6)

    reputation.functions.revokeFeedback(0, 3).transact({"from": client_a})
    assert summary(0, [client_a], "", "").call() == [2, 85, 0]

    with pytest.raises(REVERTS):  # a non-empty client list is required
        summary(0, [], "", "").call()
    with pytest.raises(REVERTS):  # the owner may not rate its own agent
        give(owner, 100)
    with pytest.raises(REVERTS):  # decimals above 18
        give(client_a, 1, decimals=19)
    with pytest.raises(REVERTS):  # no such agent
        reputation.functions.giveFeedback(5, 1, 0, "", "", "", "", b"\x00" * 32).transact({"from": client_a})


ZERO = "0x" + "0" * 40
NEW_WALLET = Account.from_key(b"\x33" * 32)


def sign_wallet_set(registry: Contract, agent_id: int, owner: str, deadline: int, key: bytes = NEW_WALLET.key) -> bytes:
    """An EIP-712 AgentWalletSet signature by `key` (the new wallet)."""
    domain = {"name": "ERC8004IdentityRegistry", "version": "1", "chainId": registry.w3.eth.chain_id, "verifyingContract": registry.address}
    types = {
        "AgentWalletSet": [
            {"name": "agentId", "type": "uint256"},
            {"name": "newWallet", "type": "address"},
            {"name": "owner", "type": "address"},
            {"name": "deadline", "type": "uint256"},
        ]
    }
    message = {"agentId": agent_id, "newWallet": NEW_WALLET.address, "owner": owner, "deadline": deadline}
    return bytes(Account.sign_typed_data(key, domain, types, message).signature)


def latest_time(w3: Web3) -> int:
    """The timestamp of the latest block."""
    return int(w3.eth.get_block("latest")["timestamp"])


def test_set_agent_wallet_needs_the_new_wallets_signature(w3: Web3) -> None:
    registry = deploy(w3, "identity")
    owner, stranger = w3.eth.accounts[1], w3.eth.accounts[2]
    registry.functions.register("ipfs://a").transact({"from": owner})  # agentId 0
    registry.functions.register("ipfs://b").transact({"from": owner})  # agentId 1
    deadline = latest_time(w3) + 120
    good = sign_wallet_set(registry, 0, owner, deadline)
    rejected = [
        (stranger, 0, deadline, good),  # only the owner or an operator may send it
        (owner, 1, deadline, good),  # signed for another agent
        (owner, 0, deadline, sign_wallet_set(registry, 0, stranger, deadline)),  # names another owner
        (owner, 0, deadline, sign_wallet_set(registry, 0, owner, deadline, key=b"\x44" * 32)),  # not the wallet's key
        (owner, 0, latest_time(w3) - 1, sign_wallet_set(registry, 0, owner, latest_time(w3) - 1)),  # expired
        (owner, 0, latest_time(w3) + 3600, sign_wallet_set(registry, 0, owner, latest_time(w3) + 3600)),  # over 5 minutes ahead
        (owner, 0, deadline, good[:64]),  # truncated
    ]
    for sender, agent_id, when, signature in rejected:
        with pytest.raises(REVERTS):
            registry.functions.setAgentWallet(agent_id, NEW_WALLET.address, when, signature).transact({"from": sender})
    assert registry.functions.getAgentWallet(0).call() == owner

    receipt = w3.eth.wait_for_transaction_receipt(
        registry.functions.setAgentWallet(0, NEW_WALLET.address, deadline, good).transact({"from": owner})
    )
    (event,) = registry.events.MetadataSet().process_receipt(receipt, errors=DISCARD)
    assert (event.args.agentId, event.args.metadataKey, event.args.metadataValue) == (0, "agentWallet", bytes.fromhex(NEW_WALLET.address[2:]))
    assert registry.functions.getAgentWallet(0).call() == NEW_WALLET.address
    assert registry.functions.getAgentWallet(1).call() == owner
    separator = registry.functions.DOMAIN_SEPARATOR().call()
    assert separator == keccak(
        keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
        + keccak(b"ERC8004IdentityRegistry") + keccak(b"1") + w3.eth.chain_id.to_bytes(32, "big") + bytes(12) + bytes.fromhex(registry.address[2:])
    )


def test_safe_transfer_from_both_overloads_and_the_wallet_is_cleared(w3: Web3, token: Contract) -> None:
    registry = deploy(w3, "identity")
    alice, bob, carol = w3.eth.accounts[1:4]
    for _ in range(3):
        registry.functions.register().transact({"from": alice})
    three = registry.get_function_by_signature("safeTransferFrom(address,address,uint256)")
    four = registry.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")

    receipt = w3.eth.wait_for_transaction_receipt(three(alice, bob, 0).transact({"from": alice}))
    (cleared,) = registry.events.MetadataSet().process_receipt(receipt, errors=DISCARD)
    assert (cleared.args.agentId, cleared.args.metadataKey, cleared.args.metadataValue) == (0, "agentWallet", b"")
    assert registry.functions.ownerOf(0).call() == bob
    assert registry.functions.getAgentWallet(0).call() == ZERO

    four(alice, carol, 1, b"hello").transact({"from": alice})
    assert registry.functions.ownerOf(1).call() == carol
    assert registry.functions.getAgentWallet(1).call() == ZERO

    # A wallet that is already clear is not cleared again.
    registry.functions.unsetAgentWallet(2).transact({"from": alice})
    receipt = w3.eth.wait_for_transaction_receipt(registry.functions.transferFrom(alice, bob, 2).transact({"from": alice}))
    assert registry.events.MetadataSet().process_receipt(receipt, errors=DISCARD) == ()

    with pytest.raises(REVERTS):  # not the owner
        three(bob, carol, 0).transact({"from": carol})
    with pytest.raises(REVERTS):  # a contract that does not accept ERC-721 tokens
        three(bob, token.address, 0).transact({"from": bob})
    assert registry.functions.ownerOf(0).call() == bob
    assert registry.functions.balanceOf(bob).call() == 2


def test_reputation_responses_and_reads(w3: Web3) -> None:
    registry = deploy(w3, "identity")
    reputation = deploy(w3, "reputation", registry.address)
    owner, client_a, client_b, responder = w3.eth.accounts[1:5]
    registry.functions.register().transact({"from": owner})

    def give(client: str, value: int) -> None:
        reputation.functions.giveFeedback(0, value, 0, "quality", "fast", "", "", b"\x00" * 32).transact({"from": client})

    give(client_a, 70)
    give(client_a, 80)
    give(client_b, 90)
    assert reputation.functions.readFeedback(0, client_a, 2).call() == [80, 0, "quality", "fast", False]
    assert reputation.functions.getClients(0).call() == [client_a, client_b]
    assert reputation.functions.getLastIndex(0, client_b).call() == 1
    with pytest.raises(REVERTS):
        reputation.functions.readFeedback(0, client_a, 3).call()

    respond = reputation.functions.appendResponse
    receipt = w3.eth.wait_for_transaction_receipt(respond(0, client_a, 2, "ipfs://reply", b"\x01" * 32).transact({"from": owner}))
    (event,) = reputation.events.ResponseAppended().process_receipt(receipt, errors=DISCARD)
    assert (event.args.agentId, event.args.clientAddress, event.args.feedbackIndex, event.args.responder) == (0, client_a, 2, owner)
    assert (event.args.responseURI, event.args.responseHash) == ("ipfs://reply", b"\x01" * 32)
    respond(0, client_a, 2, "ipfs://again", b"\x00" * 32).transact({"from": owner})
    respond(0, client_a, 2, "ipfs://me-too", b"\x00" * 32).transact({"from": responder})
    respond(0, client_b, 1, "ipfs://b", b"\x00" * 32).transact({"from": responder})
    with pytest.raises(REVERTS):  # no such feedback
        respond(0, client_b, 2, "ipfs://x", b"\x00" * 32).transact({"from": owner})
    with pytest.raises(REVERTS):  # empty URI
        respond(0, client_b, 1, "", b"\x00" * 32).transact({"from": owner})

    count = reputation.functions.getResponseCount
    assert count(0, client_a, 2, []).call() == 3
    assert count(0, client_a, 2, [owner]).call() == 2
    assert count(0, client_a, 1, []).call() == 0
    assert count(0, client_a, 0, []).call() == 3  # every entry of client_a
    assert count(0, ZERO, 0, []).call() == 4  # every client
    assert count(0, ZERO, 0, [responder]).call() == 2

    reputation.functions.revokeFeedback(0, 1).transact({"from": client_a})
    assert reputation.functions.readFeedback(0, client_a, 1).call()[-1] is True
    with pytest.raises(REVERTS):  # already revoked
        reputation.functions.revokeFeedback(0, 1).transact({"from": client_a})
