"""A local server that speaks WeCom's documented protocol for the calls Siyu makes, with failures on demand.

    server = FakeWeCom(corp_id="wwcorp", secret="s3cret").start()
    server.fail_next("externalcontact/add_msg_template", 45009, 45009)   # the next two calls hit the limit
    server.expire_tokens()                                               # issued tokens answer 42001
    server.refuse_customers("wm_gone")                                   # add_msg_template puts it in fail_list
    server.route("externalcontact/list", handler)                        # handler(params, body) -> answer

The calls of each part (sync, sending) are routed by the part's own module of the tests (a fixture calls route).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWeCom:
    def __init__(self, *, corp_id: str, secret: str):
        self.corp_id, self.secret = corp_id, secret
        self.lock = threading.Lock()
        self.reset()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    def reset(self) -> None:
        with self.lock:
            self.calls: list[tuple[str, dict, dict | None]] = []
            self.valid_tokens: set[str] = set()
            self.issued = 0
            self.failures: dict[str, list[int]] = defaultdict(list)
            self.refused: set[str] = set()
            self.routes: dict = {}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeWeCom":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # Programming failures ------------------------------------------------------------------------------------------

    def fail_next(self, path: str, *errcodes: int) -> None:
        with self.lock:
            self.failures[path].extend(errcodes)

    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def refuse_customers(self, *external_userids: str) -> None:
        with self.lock:
            self.refused.update(external_userids)

    def route(self, path: str, handler) -> None:
        """Answer cgi-bin/<path> with handler(params, body), called under the server's lock."""
        with self.lock:
            self.routes[path] = handler

    def calls_to(self, path: str) -> list[tuple[dict, dict | None]]:
        with self.lock:
            return [(params, body) for called, params, body in self.calls if called == path]

    # The protocol -----------------------------------------------------------------------------------------------

    def answer(self, path: str, params: dict, body: dict | None) -> dict:
        with self.lock:
            self.calls.append((path, params, body))
            if self.failures[path]:
                errcode = self.failures[path].pop(0)
                return {"errcode": errcode, "errmsg": f"programmed failure {errcode}"}
            if path == "gettoken":
                return self._gettoken(params)
            if params.get("access_token") not in self.valid_tokens:
                return {"errcode": 42001, "errmsg": "access_token expired"}
            if path in self.routes:
                return self.routes[path](params, body or {})
            if path == "externalcontact/add_msg_template":
                return self._add_msg_template(body or {})
            if path == "externalcontact/get":
                return {"errcode": 0, "errmsg": "ok", "external_contact": {
                    "external_userid": params.get("external_userid"), "name": "李姐", "type": 1, "gender": 2}}
            return {"errcode": 40058, "errmsg": "unknown api in the fake server"}

    def _gettoken(self, params: dict) -> dict:
        if (params.get("corpid"), params.get("corpsecret")) != (self.corp_id, self.secret):
            return {"errcode": 40001, "errmsg": "invalid credential"}
        self.issued += 1
        token = f"token-{self.issued}"
        self.valid_tokens.add(token)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}

    def _add_msg_template(self, body: dict) -> dict:
        if not body.get("external_userid") or len(body["external_userid"]) > 10_000:
            return {"errcode": 40058, "errmsg": "external_userid: 1 to 10000 items"}
        failed = [userid for userid in body["external_userid"] if userid in self.refused]
        return {"errcode": 0, "errmsg": "ok", "fail_list": failed, "msgid": f"msg{len(self.calls)}"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, body: dict | None) -> None:
                url = urlparse(self.path)
                params = {key: values[0] for key, values in parse_qs(url.query).items()}
                answer = fake.answer(url.path.removeprefix("/cgi-bin/"), params, body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._reply(None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self._reply(json.loads(self.rfile.read(length) or b"{}"))

            def log_message(self, *args):
                pass  # quiet tests

        return Handler
