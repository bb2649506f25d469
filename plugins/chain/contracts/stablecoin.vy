# pragma version 0.4.3
"""
@title Colony development stablecoin
@notice An ERC-20 token with 6 decimals and EIP-3009 signed transfers
        (transferWithAuthorization / receiveWithAuthorization /
        cancelAuthorization), in the style of FiatToken (USDC).
        x402's `exact` scheme settles payments through transferWithAuthorization.
@dev The bytes-signature overload of transferWithAuthorization (selector
     0xcf092995) cannot be declared in Vyper, which has no overloading by type;
     it is dispatched by hand in __default__ and described in the ABI by the
     build script (see build.py, EXTRA_ABI).
"""

# ---------------------------------------------------------------- events

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event AuthorizationUsed:
    authorizer: indexed(address)
    nonce: indexed(bytes32)

event AuthorizationCanceled:
    authorizer: indexed(address)
    nonce: indexed(bytes32)

# ---------------------------------------------------------------- constants

DECIMALS: constant(uint8) = 6

EIP712_DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
TRANSFER_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
RECEIVE_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
CANCEL_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "CancelAuthorization(address authorizer,bytes32 nonce)"
)

# Upper bound for `s` in a non-malleable secp256k1 signature (EIP-2).
SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

# Selector of transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes).
TRANSFER_WITH_AUTHORIZATION_BYTES: constant(bytes4) = 0xcf092995

# ---------------------------------------------------------------- storage

name: public(String[64])
symbol: public(String[32])
version: public(String[16])
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
minter: public(address)

# authorizer => nonce => used (or canceled)
_authorization_states: HashMap[address, HashMap[bytes32, bool]]


@deploy
def __init__(name_: String[64], symbol_: String[32], version_: String[16]):
    """
    @param name_ Token name; also the EIP-712 domain name.
    @param symbol_ Token symbol.
    @param version_ EIP-712 domain version.
    """
    self.name = name_
    self.symbol = symbol_
    self.version = version_
    self.minter = msg.sender


# ---------------------------------------------------------------- ERC-20

@external
@pure
def decimals() -> uint8:
    return DECIMALS


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero address"
    assert self.balanceOf[sender] >= amount, "insufficient balance"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "insufficient allowance"
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256) -> bool:
    """
    @notice Create `amount` new tokens for `receiver`; only the minter (the deployer) may.
    """
    assert msg.sender == self.minter, "caller is not the minter"
    assert receiver != empty(address), "mint to zero address"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)
    return True


# ---------------------------------------------------------------- EIP-712

@internal
@view
def _domain_separator() -> bytes32:
    # Computed on every call so that it always follows the current chain id.
    return keccak256(
        abi_encode(
            EIP712_DOMAIN_TYPEHASH,
            keccak256(self.name),
            keccak256(self.version),
            chain.id,
            self,
        )
    )


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    return self._domain_separator()


@internal
@view
def _recover(struct_hash: bytes32, v: uint8, r: bytes32, s: bytes32) -> address:
    """Recover the signer of an EIP-712 message; reverts on a malformed signature."""
    assert v == 27 or v == 28, "invalid signature v"
    assert convert(s, uint256) <= SECP256K1_HALF_N, "invalid signature s"
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "invalid signature"
    return signer


@internal
def _use_authorization(
    typehash: bytes32,
    sender: address,
    receiver: address,
    amount: uint256,
    valid_after: uint256,
    valid_before: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """Check and consume an EIP-3009 authorization, then move the tokens."""
    assert block.timestamp > valid_after, "authorization is not yet valid"
    assert block.timestamp < valid_before, "authorization is expired"
    assert not self._authorization_states[sender][nonce], "authorization is used or canceled"
    struct_hash: bytes32 = keccak256(
        abi_encode(typehash, sender, receiver, amount, valid_after, valid_before, nonce)
    )
    assert self._recover(struct_hash, v, r, s) == sender, "invalid signature"
    self._authorization_states[sender][nonce] = True
    log AuthorizationUsed(authorizer=sender, nonce=nonce)
    self._transfer(sender, receiver, amount)


# ---------------------------------------------------------------- EIP-3009

@external
@view
def authorizationState(authorizer: address, nonce: bytes32) -> bool:
    """
    @notice True once the authorizer's `nonce` has been used or canceled.
    """
    return self._authorization_states[authorizer][nonce]


@external
def transferWithAuthorization(
    sender: address,
    receiver: address,
    amount: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @notice Execute a transfer signed by `sender` (EIP-3009); anyone may submit it.
    """
    self._use_authorization(
        TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
        sender, receiver, amount, validAfter, validBefore, nonce, v, r, s,
    )


@external
def receiveWithAuthorization(
    sender: address,
    receiver: address,
    amount: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @notice Like transferWithAuthorization, but only the receiver may submit it.
    """
    assert msg.sender == receiver, "caller must be the payee"
    self._use_authorization(
        RECEIVE_WITH_AUTHORIZATION_TYPEHASH,
        sender, receiver, amount, validAfter, validBefore, nonce, v, r, s,
    )


@external
def cancelAuthorization(authorizer: address, nonce: bytes32, v: uint8, r: bytes32, s: bytes32):
    """
    @notice Burn an unused nonce, so the authorization carrying it can never run.
    """
    assert not self._authorization_states[authorizer][nonce], "authorization is used or canceled"
    struct_hash: bytes32 = keccak256(abi_encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce))
    assert self._recover(struct_hash, v, r, s) == authorizer, "invalid signature"
    self._authorization_states[authorizer][nonce] = True
    log AuthorizationCanceled(authorizer=authorizer, nonce=nonce)


@external
def __default__():
    """
    @notice Dispatches the bytes-signature overload
            transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes),
            which Vyper cannot declare next to the (v, r, s) form. Only 65-byte
            ECDSA signatures (r || s || v) are accepted: there is no EIP-1271 support.
    """
    assert len(msg.data) >= 4, "unknown function"
    assert convert(slice(msg.data, 0, 4), bytes4) == TRANSFER_WITH_AUTHORIZATION_BYTES, "unknown function"
    # Canonical ABI encoding with a 65-byte signature: selector (4) + head (7 words)
    # + bytes length word + 65 bytes padded to 96 = 356 bytes. slice(msg.data) needs a
    # constant length in Vyper, so only this (canonical) encoding is accepted.
    assert len(msg.data) == 356, "expected a 65-byte signature"
    args: Bytes[352] = slice(msg.data, 4, 352)
    sender: address = empty(address)
    receiver: address = empty(address)
    amount: uint256 = 0
    valid_after: uint256 = 0
    valid_before: uint256 = 0
    nonce: bytes32 = empty(bytes32)
    signature: Bytes[65] = b""
    sender, receiver, amount, valid_after, valid_before, nonce, signature = abi_decode(
        args, (address, address, uint256, uint256, uint256, bytes32, Bytes[65])
    )
    assert len(signature) == 65, "signature must be 65 bytes"
    r: bytes32 = extract32(signature, 0)
    s: bytes32 = extract32(signature, 32)
    v: uint8 = convert(slice(signature, 64, 1), uint8)
    if v < 27:
        v += 27
    self._use_authorization(
        TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
        sender, receiver, amount, valid_after, valid_before, nonce, v, r, s,
    )
