# pragma version 0.4.3
"""
@title ERC-8004 Identity Registry
@notice Each agent is an ERC-721 token ("AgentIdentity", "AGENT") whose token URI,
        the agentURI, points at the agent's registration file. Follows the
        ERC-8004 v1.0 ABI of erc-8004/erc-8004-contracts: the three `register`
        overloads, setAgentURI, tokenURI, getMetadata/setMetadata,
        setAgentWallet (EIP-712-signed), getAgentWallet/unsetAgentWallet,
        ERC-721 transfers (both safeTransferFrom overloads), and the
        Registered / URIUpdated / MetadataSet events.
@dev Vyper has no overloading by name. The overloads register(),
     register(string) and register(string,(string,bytes)[]) are one function
     with default arguments, which Vyper compiles into three ABI entries with
     the standard selectors 0x1aa3a008, 0xf2c298be and 0x8ea42286.
     safeTransferFrom(address,address,uint256[,bytes]) is built the same way.
     agentIds start at 0, as in the reference implementation.
     setAgentWallet accepts EOA signatures only: a contract wallet (ERC-1271)
     cannot be set.
"""

# ---------------------------------------------------------------- interfaces

interface ERC721Receiver:
    def onERC721Received(
        operator: address, sender: address, tokenId: uint256, data: Bytes[1024]
    ) -> bytes4: nonpayable

# ---------------------------------------------------------------- limits

MAX_URI: constant(uint256) = 8192
MAX_KEY: constant(uint256) = 128
MAX_VALUE: constant(uint256) = 1024
MAX_ENTRIES: constant(uint256) = 16

AGENT_WALLET_KEY: constant(String[11]) = "agentWallet"
ERC721_RECEIVED: constant(bytes4) = 0x150b7a02

EIP712_DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
EIP712_NAME: constant(String[23]) = "ERC8004IdentityRegistry"
EIP712_VERSION: constant(String[1]) = "1"
AGENT_WALLET_SET_TYPEHASH: constant(bytes32) = keccak256(
    "AgentWalletSet(uint256 agentId,address newWallet,address owner,uint256 deadline)"
)
MAX_DEADLINE_DELAY: constant(uint256) = 300  # seconds: a signed wallet change is valid 5 minutes at most
# Upper bound for `s` in a non-malleable secp256k1 signature (EIP-2).
SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

# ---------------------------------------------------------------- types & events

struct MetadataEntry:
    metadataKey: String[MAX_KEY]
    metadataValue: Bytes[MAX_VALUE]

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    tokenId: indexed(uint256)

event Approval:
    owner: indexed(address)
    approved: indexed(address)
    tokenId: indexed(uint256)

event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool

event Registered:
    agentId: indexed(uint256)
    agentURI: String[MAX_URI]
    owner: indexed(address)

event URIUpdated:
    agentId: indexed(uint256)
    newURI: String[MAX_URI]
    updatedBy: indexed(address)

event MetadataSet:
    agentId: indexed(uint256)
    indexedMetadataKey: indexed(String[MAX_KEY])
    metadataKey: String[MAX_KEY]
    metadataValue: Bytes[MAX_VALUE]

# ---------------------------------------------------------------- storage

name: public(String[16])
symbol: public(String[8])

_owners: HashMap[uint256, address]
_balances: HashMap[address, uint256]
getApproved: public(HashMap[uint256, address])
isApprovedForAll: public(HashMap[address, HashMap[address, bool]])

_uris: HashMap[uint256, String[MAX_URI]]
_metadata: HashMap[uint256, HashMap[String[MAX_KEY], Bytes[MAX_VALUE]]]
_next_id: uint256

# ERC-165 ids: ERC-165, ERC-721, ERC-721 Metadata.
SUPPORTED_INTERFACES: constant(bytes4[3]) = [0x01ffc9a7, 0x80ac58cd, 0x5b5e139f]


@deploy
def __init__():
    self.name = "AgentIdentity"
    self.symbol = "AGENT"


# ---------------------------------------------------------------- ERC-721 views

@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    return interface_id in SUPPORTED_INTERFACES


@external
@view
def ownerOf(tokenId: uint256) -> address:
    owner: address = self._owners[tokenId]
    assert owner != empty(address), "nonexistent agent"
    return owner


@external
@view
def balanceOf(owner: address) -> uint256:
    assert owner != empty(address), "zero address"
    return self._balances[owner]


@external
@view
def totalAgents() -> uint256:
    """
    @notice Number of agents ever registered; the next agentId.
    """
    return self._next_id


@internal
@view
def _is_authorized(owner: address, spender: address, token_id: uint256) -> bool:
    return (
        spender == owner
        or self.isApprovedForAll[owner][spender]
        or self.getApproved[token_id] == spender
    )


@internal
@view
def _require_owned(agent_id: uint256) -> address:
    owner: address = self._owners[agent_id]
    assert owner != empty(address), "nonexistent agent"
    return owner


# ---------------------------------------------------------------- ERC-721 writes

@external
def approve(approved: address, tokenId: uint256):
    owner: address = self._require_owned(tokenId)
    assert msg.sender == owner or self.isApprovedForAll[owner][msg.sender], "not authorized"
    self.getApproved[tokenId] = approved
    log Approval(owner=owner, approved=approved, tokenId=tokenId)


@external
def setApprovalForAll(operator: address, approved: bool):
    self.isApprovedForAll[msg.sender][operator] = approved
    log ApprovalForAll(owner=msg.sender, operator=operator, approved=approved)


@internal
def _transfer(sender: address, receiver: address, token_id: uint256):
    owner: address = self._require_owned(token_id)
    assert owner == sender, "sender is not the owner"
    assert receiver != empty(address), "transfer to zero address"
    assert self._is_authorized(owner, msg.sender, token_id), "not authorized"
    self.getApproved[token_id] = empty(address)
    self._balances[sender] -= 1
    self._balances[receiver] += 1
    self._owners[token_id] = receiver
    log Transfer(sender=sender, receiver=receiver, tokenId=token_id)
    # As in the reference, a verified wallet does not pass to a new owner.
    if sender != receiver and len(self._metadata[token_id][AGENT_WALLET_KEY]) != 0:
        self._set_metadata(token_id, AGENT_WALLET_KEY, b"")


@external
def transferFrom(sender: address, receiver: address, tokenId: uint256):
    """
    @notice Move an agent to a new owner; the agentWallet is cleared.
    """
    self._transfer(sender, receiver, tokenId)


@external
def safeTransferFrom(sender: address, receiver: address, tokenId: uint256, data: Bytes[1024] = b""):
    """
    @notice transferFrom, and a contract receiver must accept the token.
    """
    self._transfer(sender, receiver, tokenId)
    if receiver.is_contract:
        ret: bytes4 = extcall ERC721Receiver(receiver).onERC721Received(msg.sender, sender, tokenId, data)
        assert ret == ERC721_RECEIVED, "receiver rejected the token"


# ---------------------------------------------------------------- registration

@internal
def _set_metadata(agent_id: uint256, key: String[MAX_KEY], val: Bytes[MAX_VALUE]):
    self._metadata[agent_id][key] = val
    log MetadataSet(agentId=agent_id, indexedMetadataKey=key, metadataKey=key, metadataValue=val)


@external
def register(
    agentURI: String[MAX_URI] = "",
    metadata: DynArray[MetadataEntry, MAX_ENTRIES] = [],
) -> uint256:
    """
    @notice Mint a new agent to the caller, optionally with its agentURI and
            metadata entries. Emits Transfer, MetadataSet for agentWallet
            (initially the caller), MetadataSet per entry, then Registered.
    @return The new agentId (the first is 0).
    """
    agent_id: uint256 = self._next_id
    self._next_id = agent_id + 1

    self._owners[agent_id] = msg.sender
    self._balances[msg.sender] += 1
    log Transfer(sender=empty(address), receiver=msg.sender, tokenId=agent_id)

    self._uris[agent_id] = agentURI
    self._set_metadata(agent_id, AGENT_WALLET_KEY, concat(b"", convert(msg.sender, bytes20)))
    for entry: MetadataEntry in metadata:
        assert keccak256(entry.metadataKey) != keccak256(AGENT_WALLET_KEY), "reserved key"
        self._set_metadata(agent_id, entry.metadataKey, entry.metadataValue)

    log Registered(agentId=agent_id, agentURI=agentURI, owner=msg.sender)

    # _safeMint semantics: a contract caller must accept the token.
    if msg.sender.is_contract:
        ret: bytes4 = extcall ERC721Receiver(msg.sender).onERC721Received(
            msg.sender, empty(address), agent_id, b""
        )
        assert ret == ERC721_RECEIVED, "receiver rejected the token"
    return agent_id


@external
def setAgentURI(agentId: uint256, newURI: String[MAX_URI]):
    """
    @notice Replace the agentURI; only the owner or an approved operator may.
    """
    owner: address = self._require_owned(agentId)
    assert self._is_authorized(owner, msg.sender, agentId), "not authorized"
    self._uris[agentId] = newURI
    log URIUpdated(agentId=agentId, newURI=newURI, updatedBy=msg.sender)


@external
@view
def tokenURI(tokenId: uint256) -> String[MAX_URI]:
    self._require_owned(tokenId)
    return self._uris[tokenId]


# ---------------------------------------------------------------- metadata

@external
@view
def getMetadata(agentId: uint256, metadataKey: String[MAX_KEY]) -> Bytes[MAX_VALUE]:
    return self._metadata[agentId][metadataKey]


@external
def setMetadata(agentId: uint256, metadataKey: String[MAX_KEY], metadataValue: Bytes[MAX_VALUE]):
    """
    @notice Set one metadata entry; only the owner or an approved operator may.
            The key "agentWallet" is reserved.
    """
    owner: address = self._require_owned(agentId)
    assert self._is_authorized(owner, msg.sender, agentId), "not authorized"
    assert keccak256(metadataKey) != keccak256(AGENT_WALLET_KEY), "reserved key"
    self._set_metadata(agentId, metadataKey, metadataValue)


@external
@view
def getAgentWallet(agentId: uint256) -> address:
    """
    @notice The agent's payment wallet (the registering owner until changed or cleared).
    """
    raw: Bytes[MAX_VALUE] = self._metadata[agentId][AGENT_WALLET_KEY]
    if len(raw) != 20:
        return empty(address)
    return convert(convert(slice(raw, 0, 20), bytes20), address)


@external
def unsetAgentWallet(agentId: uint256):
    owner: address = self._require_owned(agentId)
    assert self._is_authorized(owner, msg.sender, agentId), "not authorized"
    self._set_metadata(agentId, AGENT_WALLET_KEY, b"")


@internal
@view
def _domain_separator() -> bytes32:
    # Computed on every call so that it always follows the current chain id.
    return keccak256(
        abi_encode(EIP712_DOMAIN_TYPEHASH, keccak256(EIP712_NAME), keccak256(EIP712_VERSION), chain.id, self)
    )


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    return self._domain_separator()


@external
def setAgentWallet(agentId: uint256, newWallet: address, deadline: uint256, signature: Bytes[65]):
    """
    @notice Set the agent's payment wallet; the owner (or an operator) sends it,
            and `newWallet` proves control with an EIP-712 AgentWalletSet
            signature whose deadline is at most 5 minutes ahead.
    """
    assert newWallet != empty(address), "bad wallet"
    assert block.timestamp <= deadline, "expired"
    assert deadline <= block.timestamp + MAX_DEADLINE_DELAY, "deadline too far"
    owner: address = self._require_owned(agentId)
    assert self._is_authorized(owner, msg.sender, agentId), "not authorized"
    assert not newWallet.is_contract, "contract wallets are not supported"
    assert len(signature) == 65, "signature must be 65 bytes"
    r: bytes32 = extract32(signature, 0)
    s: bytes32 = extract32(signature, 32)
    v: uint8 = convert(slice(signature, 64, 1), uint8)
    if v < 27:
        v += 27
    assert v == 27 or v == 28, "invalid signature v"
    assert convert(s, uint256) <= SECP256K1_HALF_N, "invalid signature s"
    struct_hash: bytes32 = keccak256(abi_encode(AGENT_WALLET_SET_TYPEHASH, agentId, newWallet, owner, deadline))
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))
    assert ecrecover(digest, v, r, s) == newWallet, "invalid wallet sig"
    self._set_metadata(agentId, AGENT_WALLET_KEY, concat(b"", convert(newWallet, bytes20)))
