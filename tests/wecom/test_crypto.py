"""The callback cipher against the vectors of WeCom's own sample code (WXBizMsgCrypt, Sample.cs / Sample.py):
token QDG6eK, EncodingAESKey jWmYm7qr…B2C, corp id wx5823bf96d3bd56c7."""

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wecom.crypto import CallbackCryptoError, MessageCrypto

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"

# The sample's POSTed message (DecryptMsg).
MESSAGE_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
MESSAGE_TIMESTAMP, MESSAGE_NONCE = "1409659813", "1372623149"
MESSAGE_ENCRYPTED = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5g"
    "sijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQ"
    "Uax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyP"
    "IGHBZZIs2pDBS8R07+qN+E7Q=="
)
# The sample's URL verification (VerifyURL).
VERIFY_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
VERIFY_TIMESTAMP, VERIFY_NONCE = "1409659589", "263014780"
VERIFY_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="


@pytest.fixture
def crypto():
    return MessageCrypto(token=TOKEN, encoding_aes_key=KEY, receive_id=CORP_ID)


def test_it_decrypts_the_reference_message(crypto):
    message = crypto.verify_and_decrypt(
        msg_signature=MESSAGE_SIGNATURE, timestamp=MESSAGE_TIMESTAMP, nonce=MESSAGE_NONCE, encrypted=MESSAGE_ENCRYPTED
    )
    assert message.startswith(b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>")
    assert b"<Content><![CDATA[hello]]></Content>" in message
    assert b"<MsgId>4561255354251345929</MsgId>" in message


def test_it_verifies_the_reference_url_check(crypto):
    echo = crypto.verify_and_decrypt(
        msg_signature=VERIFY_SIGNATURE, timestamp=VERIFY_TIMESTAMP, nonce=VERIFY_NONCE, encrypted=VERIFY_ECHOSTR
    )
    assert echo == b"1616140317555161061"


def _reference_random_prefix() -> bytes:
    """The 16 random bytes the reference code chose: CBC's first block decrypted, in a few independent lines."""
    key = base64.b64decode(KEY + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return (decryptor.update(base64.b64decode(MESSAGE_ENCRYPTED)) + decryptor.finalize())[:16]


def test_it_encrypts_exactly_as_the_reference_code_given_the_same_random_bytes(crypto):
    message = crypto.decrypt(MESSAGE_ENCRYPTED)
    assert crypto.encrypt(message, random_prefix=_reference_random_prefix()) == MESSAGE_ENCRYPTED


def test_a_chinese_message_survives_the_round_trip(crypto):
    message = "<xml><Content><![CDATA[消息长度是按字节来算的]]></Content></xml>".encode()
    assert crypto.decrypt(crypto.encrypt(message)) == message


def test_a_wrong_signature_is_refused(crypto):
    with pytest.raises(CallbackCryptoError):
        crypto.verify_and_decrypt(msg_signature="0" * 40, timestamp=MESSAGE_TIMESTAMP, nonce=MESSAGE_NONCE,
                                  encrypted=MESSAGE_ENCRYPTED)


def test_a_message_for_another_corp_is_refused():
    other = MessageCrypto(token=TOKEN, encoding_aes_key=KEY, receive_id="wwsomeoneelse")
    with pytest.raises(CallbackCryptoError, match="another corp"):
        other.decrypt(MESSAGE_ENCRYPTED)


@pytest.mark.parametrize("garbage", ["not base64!!", base64.b64encode(b"short").decode(), ""])
def test_garbage_ciphertext_is_refused(crypto, garbage):
    with pytest.raises(CallbackCryptoError):
        crypto.decrypt(garbage)


def test_a_key_of_the_wrong_length_is_refused():
    with pytest.raises(CallbackCryptoError):
        MessageCrypto(token=TOKEN, encoding_aes_key=KEY[:-1], receive_id=CORP_ID)
