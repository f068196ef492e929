"""WeCom's callback encryption (the WXBizMsgCrypt scheme of its reference code), on the `cryptography` package.

    key        = base64decode(EncodingAESKey + "=")          32 bytes, AES-256
    iv         = key[:16]
    plaintext  = 16 random bytes + len(msg) as 4 bytes big-endian + msg + receive id (the corp id)
    ciphertext = AES-CBC(key, iv, PKCS#7(plaintext) padded to a multiple of 32 bytes), sent in base64
    signature  = sha1("".join(sorted([token, timestamp, nonce, ciphertext])))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32  # WeCom pads to 32 bytes, not AES's own 16: PKCS#7 with a block of 32.
ENCODING_AES_KEY_LENGTH = 43


class CallbackCryptoError(Exception):
    """A callback that cannot be trusted: bad signature, undecryptable body or another corp's message."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def _key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise CallbackCryptoError("The EncodingAESKey is not 43 characters long.")
    try:
        return base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise CallbackCryptoError("The EncodingAESKey is not base64.") from None


def _pad(data: bytes) -> bytes:
    amount = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    amount = data[-1] if data else 0
    if not 1 <= amount <= BLOCK_SIZE or data[-amount:] != bytes([amount]) * amount:
        raise CallbackCryptoError("The message's padding is wrong.")
    return data[:-amount]


class MessageCrypto:
    """One corp app's token, key and corp id: checks, decrypts and (for replies and tests) encrypts messages."""

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str):
        self.token = token
        self.key = _key(encoding_aes_key)
        self.receive_id = receive_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def check_signature(self, *, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise CallbackCryptoError("The signature does not match.")

    def decrypt(self, encrypted: str) -> bytes:
        try:
            ciphertext = base64.b64decode(encrypted, validate=True)
        except binascii.Error:
            raise CallbackCryptoError("The message is not base64.") from None
        if not ciphertext or len(ciphertext) % 16:
            raise CallbackCryptoError("The message is not whole AES blocks.")
        decryptor = self._cipher().decryptor()
        plaintext = _unpad(decryptor.update(ciphertext) + decryptor.finalize())
        if len(plaintext) < 20:
            raise CallbackCryptoError("The message is too short.")
        (length,) = struct.unpack(">I", plaintext[16:20])
        message, receive_id = plaintext[20 : 20 + length], plaintext[20 + length :]
        if len(message) != length or receive_id.decode(errors="replace") != self.receive_id:
            raise CallbackCryptoError("The message is for another corp.")
        return message

    def encrypt(self, message: bytes, *, random_prefix: bytes | None = None) -> str:
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        plaintext = _pad(prefix + struct.pack(">I", len(message)) + message + self.receive_id.encode())
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()

    def verify_and_decrypt(self, *, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bytes:
        self.check_signature(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypted=encrypted)
        return self.decrypt(encrypted)
