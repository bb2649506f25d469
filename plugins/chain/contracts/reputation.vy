# pragma version 0.4.3
"""
@title ERC-8004 Reputation Registry
@notice Clients leave signed-value feedback (value + decimals, two string tags,
        an endpoint, a feedback file URI and hash) about agents of an ERC-8004
        Identity Registry. Follows the v1.0 ABI: giveFeedback, revokeFeedback,
        appendResponse, getSummary, readFeedback, getClients, getLastIndex,
        getResponseCount, getIdentityRegistry.
@dev getSummary averages the matching, non-revoked feedback of the given
     (non-empty) client list. Values are normalised to 18 decimals, averaged,
     and returned in the largest `valueDecimals` among the entries counted, so
     feedback that all uses the same decimals averages exactly in those decimals.
     getResponseCount counts at most MAX_RESPONDERS distinct responders per
     feedback entry. Not implemented: readAllFeedback.
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
MAX_RESPONDERS: constant(uint256) = 256
MAX_INDEX: constant(uint64) = 4096  # feedback entries per (agent, client) that reads walk

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

event ResponseAppended:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: uint64
    responder: indexed(address)
    responseURI: String[MAX_URI]
    responseHash: bytes32

_identity: IdentityRegistry

# agentId => client => feedbackIndex (from 1) => feedback
_feedback: HashMap[uint256, HashMap[address, HashMap[uint64, Feedback]]]
# agentId => client => number of feedback entries given
_last_index: HashMap[uint256, HashMap[address, uint64]]
# agentId => clients that ever gave feedback, in order of first feedback
_clients: HashMap[uint256, DynArray[address, MAX_CLIENTS]]
# agentId => client => feedbackIndex => responder => responses appended
_response_count: HashMap[uint256, HashMap[address, HashMap[uint64, HashMap[address, uint64]]]]
# agentId => client => feedbackIndex => responders, in order of first response
_responders: HashMap[uint256, HashMap[address, HashMap[uint64, DynArray[address, MAX_RESPONDERS]]]]


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
def appendResponse(
    agentId: uint256,
    clientAddress: address,
    feedbackIndex: uint64,
    responseURI: String[MAX_URI],
    responseHash: bytes32,
):
    """
    @notice Anyone may append a response (a URI and its hash) to a feedback entry.
    """
    assert feedbackIndex >= 1 and feedbackIndex <= self._last_index[agentId][clientAddress], "no such feedback"
    assert len(responseURI) > 0, "empty URI"
    if self._response_count[agentId][clientAddress][feedbackIndex][msg.sender] == 0:
        self._responders[agentId][clientAddress][feedbackIndex].append(msg.sender)
    self._response_count[agentId][clientAddress][feedbackIndex][msg.sender] += 1
    log ResponseAppended(
        agentId=agentId,
        clientAddress=clientAddress,
        feedbackIndex=feedbackIndex,
        responder=msg.sender,
        responseURI=responseURI,
        responseHash=responseHash,
    )


@internal
@view
def _count_responses(
    agent_id: uint256, client: address, index: uint64, responders: DynArray[address, MAX_QUERY_CLIENTS]
) -> uint64:
    count: uint64 = 0
    if len(responders) == 0:
        for responder: address in self._responders[agent_id][client][index]:
            count += self._response_count[agent_id][client][index][responder]
    else:
        for responder: address in responders:
            count += self._response_count[agent_id][client][index][responder]
    return count


@internal
@view
def _count_client_responses(
    agent_id: uint256, client: address, responders: DynArray[address, MAX_QUERY_CLIENTS]
) -> uint64:
    count: uint64 = 0
    for i: uint64 in range(1, self._last_index[agent_id][client] + 1, bound=MAX_INDEX):
        count += self._count_responses(agent_id, client, i, responders)
    return count


@external
@view
def getResponseCount(
    agentId: uint256,
    clientAddress: address,
    feedbackIndex: uint64,
    responders: DynArray[address, MAX_QUERY_CLIENTS],
) -> uint64:
    """
    @notice Responses to one feedback entry; feedbackIndex 0 counts all of a
            client's entries, and the zero client counts every client's. An
            empty `responders` list counts every responder.
    """
    if clientAddress == empty(address):
        count: uint64 = 0
        for client: address in self._clients[agentId]:
            count += self._count_client_responses(agentId, client, responders)
        return count
    if feedbackIndex == 0:
        return self._count_client_responses(agentId, clientAddress, responders)
    return self._count_responses(agentId, clientAddress, feedbackIndex, responders)


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
        for i: uint64 in range(1, last + 1, bound=MAX_INDEX):
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
