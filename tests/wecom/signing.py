"""Building callbacks as WeCom sends them: encrypted, signed, wrapped in the outer XML."""

import time

from django.urls import reverse

from tests.wecom.conftest import CALLBACK_TOKEN, CORP_ID, ENCODING_AES_KEY
from wecom.crypto import MessageCrypto, signature

crypto = MessageCrypto(token=CALLBACK_TOKEN, encoding_aes_key=ENCODING_AES_KEY, receive_id=CORP_ID)


def event_xml(change_type: str, *, event: str = "change_external_contact", **fields) -> bytes:
    values = {"ToUserName": CORP_ID, "FromUserName": "sys", "CreateTime": "1700000000", "MsgType": "event",
              "Event": event, "ChangeType": change_type, **fields}
    return ("<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in values.items()) + "</xml>").encode()


def signed_post(client, credentials, plaintext: bytes, *, nonce: str = "1372623149", timestamp: str | None = None,
                tamper: bool = False):
    encrypted = crypto.encrypt(plaintext)
    timestamp = timestamp or str(int(time.time()))
    msg_signature = signature(CALLBACK_TOKEN, timestamp, nonce, encrypted)
    if tamper:
        msg_signature = msg_signature[:-1] + ("0" if msg_signature[-1] != "0" else "1")
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return post_raw(client, credentials, body.encode(), msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)


def post_raw(client, credentials, body: bytes, *, msg_signature="x", timestamp="0", nonce="n"):
    url = reverse("wecom:callback", args=[credentials.callback_key])
    query = f"?msg_signature={msg_signature}&timestamp={timestamp}&nonce={nonce}"
    return client.post(url + query, data=body, content_type="text/xml")
