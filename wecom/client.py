"""A client for WeCom's server API (https://qyapi.weixin.qq.com/cgi-bin/...), on the standard library's urllib.

    client = WeComClient(corp_id="ww...", secret="...")
    client.call("externalcontact/get", params={"external_userid": "wm..."})

The access token of a corp app lives in Django's cache (Redis in production, so every worker shares it) until
five minutes before it expires; one worker refreshes it at a time. Error 40014 / 42001 / 42009 (token invalid or
expired) fetches a new token and tries once more; 45009 (frequency limit) and network errors are retried with a
capped exponential backoff with jitter, then raise WeComUnavailable. The base URL is the WECOM_API_BASE setting.
Secrets and tokens are never logged: the query string holding the token is left out of every message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
TOKEN_INVALID_CODES = frozenset({40014, 42001, 42009})
FREQUENCY_LIMIT_CODE = 45009
TOKEN_EARLY_EXPIRY_SECONDS = 5 * 60
TOKEN_LOCK_SECONDS = 10
CALLS_PER_MINUTE_PER_API = 10_000
TIMEOUT_SECONDS = 10


class WeComError(Exception):
    """WeCom answered with an error code that retrying will not cure."""

    def __init__(self, errcode: int, errmsg: str, path: str):
        super().__init__(f"WeCom {path}: error {errcode} ({errmsg})")
        self.errcode, self.errmsg, self.path = errcode, errmsg, path


class WeComUnavailable(Exception):
    """WeCom could not be reached, or kept refusing for its frequency limit: nothing happened, try later."""


def api_base() -> str:
    return getattr(settings, "WECOM_API_BASE", DEFAULT_API_BASE).rstrip("/")


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


def backoff_delay(attempt: int) -> float:
    """Full-jitter exponential backoff: up to base·2^attempt seconds, never more than the cap."""
    base, cap = _setting("WECOM_BACKOFF_BASE_SECONDS", 0.5), _setting("WECOM_BACKOFF_CAP_SECONDS", 30.0)
    return random.uniform(0, min(cap, base * 2**attempt))


class WeComClient:
    def __init__(self, *, corp_id: str, secret: str):
        self.corp_id = corp_id
        self._secret = secret
        # Per corp app: a changed secret (another app, or a reset one) gets a token of its own.
        app = hashlib.sha256(f"{corp_id}:{secret}".encode()).hexdigest()[:16]
        self._token_key = f"wecom:token:{app}"
        self._lock_key = f"wecom:token-lock:{app}"

    # Tokens ------------------------------------------------------------------------------------------------------

    def access_token(self) -> str:
        return cache.get(self._token_key) or self._refresh_token()

    def _refresh_token(self, stale: str | None = None) -> str:
        """Fetch a new token, one worker at a time: the others wait briefly and take the one it stored."""
        deadline = time.monotonic() + TOKEN_LOCK_SECONDS
        while not cache.add(self._lock_key, "1", timeout=TOKEN_LOCK_SECONDS):
            time.sleep(0.05)
            token = cache.get(self._token_key)
            if token and token != stale:
                return token
            if time.monotonic() > deadline:
                break  # the lock's holder died: fetch it ourselves
        try:
            token = cache.get(self._token_key)
            if token and token != stale:
                return token
            answer = self._request("gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret})
            token = answer["access_token"]
            lifetime = max(int(answer.get("expires_in", 7200)) - TOKEN_EARLY_EXPIRY_SECONDS, 60)
            cache.set(self._token_key, token, timeout=lifetime)
            return token
        finally:
            cache.delete(self._lock_key)

    # Calls -------------------------------------------------------------------------------------------------------

    def call(self, path: str, *, params: dict | None = None, body: dict | None = None) -> dict:
        """GET (no body) or POST (JSON body) cgi-bin/<path> with the access token; the answer when errcode is 0."""
        self._count_call(path)
        token = self.access_token()
        try:
            return self._request(path, params={**(params or {}), "access_token": token}, body=body)
        except WeComError as error:
            if error.errcode not in TOKEN_INVALID_CODES:
                raise
            logger.info("WeCom token of corp %s rejected (%s): fetching a new one", self.corp_id, error.errcode)
            token = self._refresh_token(stale=token)
            return self._request(path, params={**(params or {}), "access_token": token}, body=body)

    def pages(self, path: str, body: dict, key: str, *, limit: int = 1000):
        """The rows under `key` of every page of a cursor-paged POST (the mass-send and moments results), fetched as
        they are read. 1,000 is WeCom's largest page for those calls."""
        cursor = ""
        while True:
            answer = self.call(path, body={**body, "limit": limit, "cursor": cursor})
            yield from answer.get(key) or []
            cursor = answer.get("next_cursor") or ""
            if not cursor:
                return

    def _count_call(self, path: str) -> None:
        """WeCom allows 10,000 calls a minute per API and corp: past that, say so instead of being blocked."""
        key = f"wecom:calls:{self.corp_id}:{path}:{int(time.time() // 60)}"
        cache.add(key, 0, timeout=120)
        try:
            calls = cache.incr(key)
        except ValueError:  # expired between add and incr
            calls = 1
        if calls > _setting("WECOM_CALLS_PER_MINUTE", CALLS_PER_MINUTE_PER_API):
            raise WeComUnavailable(f"WeCom {path}: this minute's calls are used up.")

    def _request(self, path: str, *, params: dict, body: dict | None = None) -> dict:
        """One call with retries: network errors and the frequency limit back off and try again."""
        attempts = int(_setting("WECOM_MAX_ATTEMPTS", 5))
        for attempt in range(attempts):
            try:
                answer = self._send(path, params=params, body=body)
            except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as error:
                reason = f"network: {type(error).__name__}"
            else:
                errcode = int(answer.get("errcode", 0))
                if errcode == 0:
                    return answer
                if errcode != FREQUENCY_LIMIT_CODE:
                    raise WeComError(errcode, str(answer.get("errmsg", "")), path)
                reason = "frequency limit (45009)"
            if attempt + 1 < attempts:
                delay = backoff_delay(attempt)
                logger.warning("WeCom %s: %s, retrying in %.2f s", path, reason, delay)
                time.sleep(delay)
        raise WeComUnavailable(f"WeCom {path}: {reason} after {attempts} attempts.")

    def _send(self, path: str, *, params: dict, body: dict | None) -> dict:
        url = f"{api_base()}/cgi-bin/{path}?{urllib.parse.urlencode(params)}"
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (https/setting)
            return json.loads(response.read().decode("utf-8"))

    # The calls Siyu makes ----------------------------------------------------------------------------------------

    def check(self) -> None:
        """A token can be fetched with these credentials (the settings page's test button)."""
        self._refresh_token(stale=cache.get(self._token_key))

    def external_contact(self, external_userid: str) -> dict:
        return self.call("externalcontact/get", params={"external_userid": external_userid})

    def add_msg_template(self, *, sender: str, external_userids: list[str], text: str, attachments: list) -> dict:
        body = {"chat_type": "single", "sender": sender, "external_userid": external_userids}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = attachments
        return self.call("externalcontact/add_msg_template", body=body)


def client_for(credentials) -> WeComClient:
    return WeComClient(corp_id=credentials.corp_id, secret=credentials.secret)
