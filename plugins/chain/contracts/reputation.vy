# pragma version 0.4.3
"""
@title ERC-8004 Reputation Registry
@notice Clients leave signed-value feedback (value + decimals, two string tags,
        an endpoint, a feedback file URI and hash) about agents of an ERC-8004
        Identity Registry. Follows the v1.0 ABI: giveFeedback, revokeFeedback,
        getSummary, readFeedback, getClients, getLastIndex, getIdentityRegistry.
@dev getSummary averages the matching, non-revoked feedback of the given
     (non-empty) client list. Values are normalised to 18 decimals, averaged,
     and returned in the largest `valueDecimals` among the entries counted, so
     feedback that all uses the same decimals averages exactly in those decimals.
     Not implemented: appendResponse / getResponseCount, readAllFeedback.
"""

interface IdentityRegistry:
    def ownerOf(tokenId: uint256) -> address: view
    def getApproved(tokenId: uint256) -> address: view
    def isApprovedForAll(owner: address, operator: address) -> bool: view

MAX_TAG: constant(uint256) = 64
MAX_URI: constant(uint256) = 1024
MAX_CLIENTS: constant(uint256) = 1024
MAX_QUERY_CLIENTS: constant(uint256) = 128
MAX_DECIMALS: constant(uint8) = 18

struct Feedback:
    value: int128
    valueDecimals: uint8
    tag1: String[MAX_TAG]
    tag2: String[MAX_TAG]
    isRevoked: bool

event NewFeedback:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: uint64
    value: int128
    valueDecimals: uint8
    indexedTag1: indexed(String[MAX_TAG])
    tag1: String[MAX_TAG]
    tag2: String[MAX_TAG]
    endpoint: String[MAX_URI]
    feedbackURI: String[MAX_URI]
    feedbackHash: bytes32

event FeedbackRevoked:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: indexed(uint64)

_identity: IdentityRegistry

# agentId => client => feedbackIndex (from 1) => feedback
_feedback: HashMap[uint256, HashMap[address, HashMap[uint64, Feedback]]]
# agentId => client => number of feedback entries given
_last_index: HashMap[uint256, HashMap[address, uint64]]
# agentId => clients that ever gave feedback, in order of first feedback
_clients: HashMap[uint256, DynArray[address, MAX_CLIENTS]]


@deploy
def __init__(identityRegistry: address):
    self._identity = IdentityRegistry(identityRegistry)


@external
@view
def getIdentityRegistry() -> address:
    return self._identity.address


@external
def giveFeedback(
    agentId: uint256,
    feedbackValue: int128,
    valueDecimals: uint8,
    tag1: String[MAX_TAG],
    tag2: String[MAX_TAG],
    endpoint: String[MAX_URI],
    feedbackURI: String[MAX_URI],
    feedbackHash: bytes32,
):
    """
    @notice Record feedback from the caller (`feedbackValue` is the ABI's `value`,
            a reserved word in Vyper); the agent must exist and the caller
            must not be its owner or an approved operator.
    """
    assert valueDecimals <= MAX_DECIMALS, "too many decimals"
    owner: address = staticcall self._identity.ownerOf(agentId)  # reverts if no such agent
    assert msg.sender != owner, "self-feedback not allowed"
    assert not staticcall self._identity.isApprovedForAll(owner, msg.sender), "self-feedback not allowed"
    assert staticcall self._identity.getApproved(agentId) != msg.sender, "self-feedback not allowed"

    index: uint64 = self._last_index[agentId][msg.sender] + 1
    if index == 1:
        self._clients[agentId].append(msg.sender)
    self._last_index[agentId][msg.sender] = index
    self._feedback[agentId][msg.sender][index] = Feedback(
        value=feedbackValue, valueDecimals=valueDecimals, tag1=tag1, tag2=tag2, isRevoked=False
    )
    log NewFeedback(
        agentId=agentId,
        clientAddress=msg.sender,
        feedbackIndex=index,
        value=feedbackValue,
        valueDecimals=valueDecimals,
        indexedTag1=tag1,
        tag1=tag1,
        tag2=tag2,
        endpoint=endpoint,
        feedbackURI=feedbackURI,
        feedbackHash=feedbackHash,
    )


@external
def revokeFeedback(agentId: uint256, feedbackIndex: uint64):
    """
    @notice Withdraw one of the caller's own feedback entries.
    """
    assert feedbackIndex >= 1 and feedbackIndex <= self._last_index[agentId][msg.sender], "no such feedback"
    assert not self._feedback[agentId][msg.sender][feedbackIndex].isRevoked, "already revoked"
    self._feedback[agentId][msg.sender][feedbackIndex].isRevoked = True
    log FeedbackRevoked(agentId=agentId, clientAddress=msg.sender, feedbackIndex=feedbackIndex)


@external
@view
def readFeedback(
    agentId: uint256, clientAddress: address, feedbackIndex: uint64
) -> (int128, uint8, String[MAX_TAG], String[MAX_TAG], bool):
    """
    @return (value, valueDecimals, tag1, tag2, isRevoked)
    """
    assert feedbackIndex >= 1 and feedbackIndex <= self._last_index[agentId][clientAddress], "no such feedback"
    fb: Feedback = self._feedback[agentId][clientAddress][feedbackIndex]
    return fb.value, fb.valueDecimals, fb.tag1, fb.tag2, fb.isRevoked


@external
@view
def getClients(agentId: uint256) -> DynArray[address, MAX_CLIENTS]:
    return self._clients[agentId]


@external
@view
def getLastIndex(agentId: uint256, clientAddress: address) -> uint64:
    return self._last_index[agentId][clientAddress]


@external
@view
def getSummary(
    agentId: uint256,
    clientAddresses: DynArray[address, MAX_QUERY_CLIENTS],
    tag1: String[MAX_TAG],
    tag2: String[MAX_TAG],
) -> (uint64, int128, uint8):
    """
    @notice Count and average of the non-revoked feedback from `clientAddresses`
            whose tags match (an empty tag matches any).
    @return (count, summaryValue, summaryValueDecimals)
    """
    assert len(clientAddresses) > 0, "clientAddresses required"
    any_tag1: bool = len(tag1) == 0
    any_tag2: bool = len(tag2) == 0
    tag1_hash: bytes32 = keccak256(tag1)
    tag2_hash: bytes32 = keccak256(tag2)

    count: uint64 = 0
    total: int256 = 0  # sum of values scaled to 18 decimals
    decimals: uint8 = 0
    for client: address in clientAddresses:
        last: uint64 = self._last_index[agentId][client]
        for i: uint64 in range(1, last + 1, bound=4096):
            fb: Feedback = self._feedback[agentId][client][i]
            if fb.isRevoked:
                continue
            if not any_tag1 and keccak256(fb.tag1) != tag1_hash:
                continue
            if not any_tag2 and keccak256(fb.tag2) != tag2_hash:
                continue
            count += 1
            total += convert(fb.value, int256) * convert(10 ** convert(MAX_DECIMALS - fb.valueDecimals, uint256), int256)
            decimals = max(decimals, fb.valueDecimals)

    if count == 0:
        return 0, 0, 0
    scale: int256 = convert(10 ** convert(MAX_DECIMALS - decimals, uint256), int256)
    average: int256 = total // convert(count, int256) // scale
    return count, convert(average, int128), decimals
