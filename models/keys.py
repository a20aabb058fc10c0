"""The deployment's secret key, and what it protects: public ids, cursors, stored secrets.

One master key per deployment: `SECRET_KEY` when it is set (then every process of the
deployment must be given the same), otherwise a random key made on the first start and kept
in the database, so that every process sharing the database agrees with no configuration.
HMAC derives one subkey per purpose from it:

- public ids: the AES encryption of one block holding a type tag, the row id and four zero
  bytes. Ids say nothing of the row id (one firm cannot count another's rows from its own),
  and a forged or altered id fails the check and is refused like any malformed id.
- sealed values (AES-GCM): secrets kept to be used again (webhook signing secrets), opaque
  cursors. A value sealed for one purpose does not open for another.

Changing the key changes every public id and makes sealed secrets unreadable: choose it once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tortoise import fields
from tortoise.models import Model

from models import sql

MASTER = "master"
NONCE_BYTES = 12
CHECK = bytes(4)  # the last four bytes of every id's block


class DeploymentSecret(Model):
    """Secrets of the whole deployment (not of a firm): the master key when SECRET_KEY is
    not set."""

    name = fields.CharField(max_length=50, primary_key=True)
    value = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "deployment_secret"


class _Keys:
    def __init__(self, master: bytes) -> None:
        id_key = self.derive(master, b"public-ids")[:16]
        self.ids_out: CipherContext = Cipher(algorithms.AES(id_key), modes.ECB()).encryptor()
        self.ids_in: CipherContext = Cipher(algorithms.AES(id_key), modes.ECB()).decryptor()
        self.sealing = AESGCM(self.derive(master, b"sealed-values"))

    @staticmethod
    def derive(master: bytes, purpose: bytes) -> bytes:
        return hmac.new(master, purpose, hashlib.sha256).digest()


_keys: _Keys | None = None


def _current() -> _Keys:
    if _keys is None:
        raise RuntimeError("the deployment key is not loaded: open the database first")
    return _keys


def use_master_key(master: bytes) -> None:
    global _keys
    _keys = _Keys(master)
    _forget_ids()


async def load(secret_key: str | None) -> None:
    """Use SECRET_KEY, or the key kept in the database (made now if there is none yet)."""
    if secret_key:
        use_master_key(secret_key.encode())
        return
    made = base64.urlsafe_b64encode(os.urandom(32)).decode()
    # Of processes starting together, the first insert wins and every one reads it back.
    await sql.execute(
        'INSERT INTO "deployment_secret" ("name", "value", "created_at") VALUES (?, ?, '
        "CURRENT_TIMESTAMP) ON CONFLICT DO NOTHING",
        [MASTER, made],
    )
    rows = await sql.fetch('SELECT "value" FROM "deployment_secret" WHERE "name" = ?', [MASTER])
    use_master_key(rows[0]["value"].encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    if not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def type_tag(type_name: str) -> bytes:
    return hashlib.sha256(type_name.encode()).digest()[:4]


def encode_id(tag: bytes, pk: int) -> str:
    """The public form of row `pk` of the type with this tag: 22 URL-safe characters."""
    block = tag + pk.to_bytes(8, "big") + CHECK
    return base64.urlsafe_b64encode(_current().ids_out.update(block))[:22].decode()


_BLOCK = struct.Struct(">4sQ4s")  # an id's block: type tag, row id, CHECK

# Public ids made by encode_ids, per type tag: a board's thousands of ids are the same from
# one load to the next. Emptied once past MAX_CACHED_IDS (~15 MB), and when the key changes.
MAX_CACHED_IDS = 100_000
_made_ids: dict[bytes, dict[int, str]] = {}
_made_count = 0


def encode_ids(tag: bytes, pks: list[int]) -> list[str]:
    """encode_id of many rows of one type: those not made before by one cipher call (ECB
    encrypts each block alone: the same blocks as one by one) and one base64 call, each block
    followed by two zero bytes (18 bytes are 24 characters, whose first 22 are the block's
    own: those encode_id keeps)."""
    global _made_count
    if _made_count > MAX_CACHED_IDS:
        _forget_ids()
    made = _made_ids.setdefault(tag, {})
    found = [made.get(pk) for pk in pks]
    if None not in found:
        return found  # type: ignore[return-value]  # none is None
    missing = list(dict.fromkeys(pk for pk, text in zip(pks, found, strict=True) if text is None))
    out = memoryview(
        _current().ids_out.update(b"".join([_BLOCK.pack(tag, pk, CHECK) for pk in missing]))
    )
    spaced = b"\0\0".join([out[i : i + 16] for i in range(0, len(out), 16)]) + b"\0\0"
    text = base64.urlsafe_b64encode(spaced).decode()
    for n, pk in enumerate(missing):
        made[pk] = text[n * 24 : n * 24 + 22]
    _made_count += len(missing)
    return [made[pk] for pk in pks]


def _forget_ids() -> None:
    global _made_count
    _made_ids.clear()
    _made_count = 0


def decode_id(text: str) -> tuple[bytes, int] | None:
    """(type tag, row id) of a public id, or None if it is not one of ours."""
    raw = _unb64(text) if len(text) == 22 else None
    if raw is None or len(raw) != 16 or _b64(raw) != text:  # one spelling per id
        return None
    block = _current().ids_in.update(raw)
    if block[12:] != CHECK:
        return None
    return block[:4], int.from_bytes(block[4:12], "big")


def seal(value: bytes, purpose: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _b64(nonce + _current().sealing.encrypt(nonce, value, purpose))


def unseal(text: str, purpose: bytes) -> bytes | None:
    """The value sealed for this purpose, or None if `text` is not such a value."""
    raw = _unb64(text)
    if raw is None or len(raw) <= NONCE_BYTES:
        return None
    try:
        return _current().sealing.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose)
    except InvalidTag:
        return None
