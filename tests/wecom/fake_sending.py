"""The sending calls of the local WeCom (tests/wecom/fake_server.py): media uploads (multipart, as WeCom takes
them), mass-send results, moment tasks, contact ways and welcome messages, with their state kept here.

    wecom = install(fake_wecom, monkeypatch)
    wecom.confirm(msgid, "zhangsan", {"wm0": 1, "wm1": 2})     # the sender sent it; each customer's status
    wecom.page_size = 2                                          # small pages, to follow the cursor
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from email.parser import BytesParser
from email.policy import default as email_policy

MAX_IMAGE_BYTES = 10 * 1024 * 1024


def _ok(**fields) -> dict:
    return {"errcode": 0, "errmsg": "ok", **fields}


class SendingWeCom:
    def __init__(self, server):
        self.server = server
        self.page_size = 1000
        self.uploads: list[dict] = []
        self.confirmed: dict[str, set[str]] = defaultdict(set)  # msgid → senders who sent it
        self.results: dict[tuple[str, str], dict[str, int]] = {}  # (msgid, sender) → {external userid: status}
        self.jobs: dict[str, dict] = {}  # jobid → {"status": 1|2|3, "moment_id", "body", "errcode"}
        self.published: dict[str, set[str]] = defaultdict(set)  # moment_id → senders who posted it
        self.viewers: dict[str, list[str]] = defaultdict(list)  # moment_id → external userids who may see it
        self.likes: dict[str, list[dict]] = defaultdict(list)
        self.comments: dict[str, list[dict]] = defaultdict(list)
        self.contact_ways: list[dict] = []
        self.welcome_codes: set[str] = set()
        self.welcomes: list[dict] = []

    # Programming WeCom's side -----------------------------------------------------------------------------------

    def confirm(self, msgid: str, sender: str, statuses: dict[str, int]) -> None:
        with self.server.lock:
            self.confirmed[msgid].add(sender)
            self.results[(msgid, sender)] = dict(statuses)

    def finish_job(self, jobid: str, moment_id: str = "mom1", errcode: int = 0) -> None:
        with self.server.lock:
            self.jobs[jobid].update(status=3, moment_id=moment_id, errcode=errcode)

    def publish(self, moment_id: str, sender: str, viewers=()) -> None:
        with self.server.lock:
            self.published[moment_id].add(sender)
            self.viewers[moment_id] = list(viewers)

    def like(self, moment_id: str, external_userid: str, at: int = 1700000100) -> None:
        with self.server.lock:
            self.likes[moment_id].append({"external_userid": external_userid, "create_time": at})

    def comment(self, moment_id: str, external_userid: str, at: int = 1700000200) -> None:
        with self.server.lock:
            self.comments[moment_id].append({"external_userid": external_userid, "create_time": at})

    # The calls ----------------------------------------------------------------------------------------------------

    def _page(self, items: list, body: dict, key: str) -> dict:
        start = int(body.get("cursor") or 0)
        size = min(int(body.get("limit") or 1000), self.page_size)
        end = start + size
        return _ok(**{key: items[start:end], "next_cursor": str(end) if end < len(items) else ""})

    def _upload(self, params: dict, body: dict) -> dict:
        media = (body.get("files") or {}).get("media")
        if media is None:
            return {"errcode": 41004, "errmsg": "media missing (not multipart?)"}
        if media["size"] > MAX_IMAGE_BYTES:
            return {"errcode": 40009, "errmsg": "invalid image size"}
        self.uploads.append({**params, **media})
        return _ok(type="image", media_id=f"media-{len(self.uploads)}", created_at="1700000000")

    def _groupmsg_task(self, params: dict, body: dict) -> dict:
        msgid = body.get("msgid", "")
        senders = {sender for (known, sender) in self.results if known == msgid}
        tasks = [{"userid": s, "status": 2 if s in self.confirmed[msgid] else 0} for s in sorted(senders)]
        return self._page(tasks, body, "task_list")

    def _groupmsg_result(self, params: dict, body: dict) -> dict:
        key = (body.get("msgid", ""), body.get("userid", ""))
        rows = [{"external_userid": ext, "userid": key[1], "status": status, "send_time": 1700000000}
                for ext, status in (self.results.get(key) or {}).items()]
        return self._page(rows, body, "send_list")

    def _add_moment_task(self, params: dict, body: dict) -> dict:
        if not body.get("text") and not body.get("attachments"):
            return {"errcode": 41001, "errmsg": "text or attachments required"}
        jobid = f"job{len(self.jobs) + 1}"
        self.jobs[jobid] = {"status": 1, "moment_id": "", "body": body, "errcode": 0}
        return _ok(jobid=jobid)

    def _moment_task_result(self, params: dict, body: dict) -> dict:
        job = self.jobs.get(params.get("jobid", ""))
        if job is None:
            return {"errcode": 40058, "errmsg": "invalid jobid"}
        if job["status"] != 3:
            return _ok(status=job["status"], type="add_moment_task", result={})
        result = {"errcode": job["errcode"], "errmsg": "ok" if not job["errcode"] else "failed"}
        if not job["errcode"]:
            result["moment_id"] = job["moment_id"]
        return _ok(status=3, type="add_moment_task", result=result)

    def _moment_task(self, params: dict, body: dict) -> dict:
        moment_id = body.get("moment_id", "")
        senders = {job["body"]["visible_range"]["sender_list"]["user_list"][0] for job in self.jobs.values()
                   if job["moment_id"] == moment_id}
        rows = [{"userid": s, "publish_status": int(s in self.published[moment_id])} for s in sorted(senders)]
        return self._page(rows, body, "task_list")

    def _moment_customers(self, params: dict, body: dict) -> dict:
        rows = [{"userid": body.get("userid"), "external_userid": ext} for ext in self.viewers[body.get("moment_id")]]
        return self._page(rows, body, "customer_list")

    def _moment_comments(self, params: dict, body: dict) -> dict:
        moment_id = body.get("moment_id", "")
        return _ok(comment_list=list(self.comments[moment_id]), like_list=list(self.likes[moment_id]))

    def _add_contact_way(self, params: dict, body: dict) -> dict:
        users, state = body.get("user") or [], body.get("state", "")
        if len(state) > 30:
            return {"errcode": 40058, "errmsg": "state exceeds 30 characters"}
        if body.get("type") == 1 and len(users) != 1 or not users:
            return {"errcode": 40058, "errmsg": "user: one for type 1, several for type 2"}
        self.contact_ways.append(body)
        n = len(self.contact_ways)
        return _ok(config_id=f"cfg{n}", qr_code=f"https://wwcdn.example.com/qr/{n}.png")

    def _send_welcome(self, params: dict, body: dict) -> dict:
        code = body.get("welcome_code", "")
        if not code or code in self.welcome_codes:
            return {"errcode": 41051, "errmsg": "welcome_code used or expired"}
        self.welcome_codes.add(code)
        self.welcomes.append(body)
        return _ok()

    def routes(self) -> dict:
        return {
            "media/upload": self._upload,
            "media/upload_attachment": self._upload,
            "externalcontact/get_groupmsg_task": self._groupmsg_task,
            "externalcontact/get_groupmsg_send_result": self._groupmsg_result,
            "externalcontact/add_moment_task": self._add_moment_task,
            "externalcontact/get_moment_task_result": self._moment_task_result,
            "externalcontact/get_moment_task": self._moment_task,
            "externalcontact/get_moment_customer_list": self._moment_customers,
            "externalcontact/get_moment_comments": self._moment_comments,
            "externalcontact/add_contact_way": self._add_contact_way,
            "externalcontact/send_welcome_msg": self._send_welcome,
        }


def _multipart_handler(base):
    """The fake server's request handler, also reading multipart/form-data bodies: each file part becomes
    body["files"][field] = {"filename", "content_type", "size", "sha256"}."""

    class Handler(base):
        def do_POST(self):
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("multipart/form-data"):
                return super().do_POST()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            message = BytesParser(policy=email_policy).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + raw
            )
            files = {}
            for part in message.iter_parts():
                data = part.get_payload(decode=True) or b""
                files[part.get_param("name", header="content-disposition")] = {
                    "filename": part.get_filename(), "content_type": part.get_content_type(), "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            self._reply({"files": files})

    return Handler


def install(fake_wecom, monkeypatch) -> SendingWeCom:
    """Route the sending calls of `fake_wecom` (reset for each test) to a fresh SendingWeCom."""
    sending = SendingWeCom(fake_wecom)
    for path, handler in sending.routes().items():
        fake_wecom.route(path, handler)
    server = fake_wecom._server
    monkeypatch.setattr(server, "RequestHandlerClass", _multipart_handler(server.RequestHandlerClass))
    return sending
