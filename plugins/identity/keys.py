"""Encrypted keystores and the `Signer` that signs with a key without ever handing it out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from colony.core.paths import secret_file, write_private

PASSPHRASE_ENV = "COLONY_KEY_PASSPHRASE"


class KeystoreError(RuntimeError):
    """A keystore cannot be read, written or unlocked."""


class Signer:
    """Signs transactions and EIP-712 messages for one address; the key stays inside."""

    __slots__ = ("__account", "address", "role")

    def __init__(self, account: LocalAccount, role: str) -> None:
        self.__account = account
        self.address: str = account.address
        self.role = role

    def __repr__(self) -> str:
        return f"Signer({self.role}, {self.address})"

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Sign a transaction dict."""
        return self.__account.sign_transaction(tx)

    def sign_typed_data(self, full_message: dict[str, Any]) -> bytes:
        """Sign an EIP-712 message (domain, types, primaryType, message); 65 bytes, v = 27/28."""
        return bytes(self.__account.sign_message(encode_typed_data(full_message=full_message)).signature)


def passphrase(folder: Path) -> str:
    """The keystore passphrase: $COLONY_KEY_PASSPHRASE, else a secret generated once into `folder`."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    path = folder / "passphrase"
    secret = secret_file(path)
    if path.stat().st_mode & 0o077:
        raise KeystoreError(f"{path} is readable by others; chmod 600 it")
    return secret


def load_or_create(path: Path, secret: str, kdf: str, iterations: int) -> LocalAccount:
    """Unlock the keystore at `path`, creating a fresh key there first if there is none."""
    if not path.exists():
        account = Account.create()
        keystore = Account.encrypt(account.key, secret, kdf=kdf, iterations=iterations or None)
        write_private(path, json.dumps(keystore).encode())
        return account
    if path.stat().st_mode & 0o077:
        raise KeystoreError(f"{path} is readable by others; chmod 600 it")
    try:
        return Account.from_key(Account.decrypt(json.loads(path.read_text()), secret))
    except ValueError as exc:
        raise KeystoreError(f"cannot unlock {path}: {exc} (wrong {PASSPHRASE_ENV}?)") from None

