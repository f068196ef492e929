"""A WeCom corp for the sync's tests: staff, their customers, the corp tag library and customer group chats, served
through the fake server's routes with the shapes of WeCom's documentation (cursor paging included).

    corp = FakeCorp()
    corp.add_customer("zhangsan", "wmA", name="李姐", remark="李姐-老客", tags=["etVIP"])
    corp.install(fake_wecom)
"""

from __future__ import annotations

from dataclasses import dataclass, field

OK = {"errcode": 0, "errmsg": "ok"}


@dataclass
class Customer:
    name: str = "李姐"
    gender: int = 2
    unionid: str = ""
    remark: str = ""
    description: str = ""
    createtime: int = 1700000000
    tags: list[str] = field(default_factory=list)
    state: str = ""


class FakeCorp:
    def __init__(self):
        self.staff: dict[str, str] = {"zhangsan": "张三"}
        self.customers: dict[tuple[str, str], Customer] = {}
        self.tag_groups: dict[str, dict] = {"etGROUP1": {"group_name": "客户等级", "tags": {"etVIP": "VIP", "etA": "A类"}}}
        self.chats: dict[str, dict] = {}
        self.created = 0

    # Building the corp ---------------------------------------------------------------------------------------------

    def add_customer(self, userid: str, external_userid: str, **fields) -> Customer:
        customer = Customer(**fields)
        self.customers[(userid, external_userid)] = customer
        return customer

    def add_chat(self, chat_id: str, *, name: str, owner: str = "zhangsan", customers=(), staff=("zhangsan",)):
        members = [{"userid": userid, "type": 1, "join_time": 1700000000, "join_scene": 1} for userid in staff]
        members += [{"userid": userid, "type": 2, "join_time": 1700000000, "join_scene": 3} for userid in customers]
        self.chats[chat_id] = {"chat_id": chat_id, "name": name, "owner": owner, "create_time": 1700000000,
                               "notice": "", "member_list": members, "admin_list": []}

    def install(self, server) -> None:
        for path, handler in {
            "externalcontact/get_follow_user_list": self.follow_users,
            "user/get": self.user_get,
            "externalcontact/batch/get_by_user": self.batch_get_by_user,
            "externalcontact/get": self.contact_get,
            "externalcontact/get_corp_tag_list": self.corp_tags,
            "externalcontact/add_corp_tag": self.add_corp_tag,
            "externalcontact/mark_tag": self.mark_tag,
            "externalcontact/remark": self.remark,
            "externalcontact/groupchat/list": self.chat_list,
            "externalcontact/groupchat/get": self.chat_get,
        }.items():
            server.route(path, handler)

    # The API -------------------------------------------------------------------------------------------------------

    def follow_users(self, params, body):
        return {**OK, "follow_user": list(self.staff)}

    def user_get(self, params, body):
        userid = params.get("userid")
        if userid not in self.staff:
            return {"errcode": 60111, "errmsg": "userid not found"}
        return {**OK, "userid": userid, "name": self.staff[userid]}

    def _person(self, external_userid: str, customer: Customer) -> dict:
        return {"external_userid": external_userid, "name": customer.name, "type": 1, "gender": customer.gender,
                "unionid": customer.unionid, "avatar": "http://wx.qlogo.cn/mmhead/x/0"}

    def batch_get_by_user(self, params, body):
        userids = body.get("userid_list") or []
        if not userids or len(userids) > 100:
            return {"errcode": 40058, "errmsg": "userid_list: 1 to 100 items"}
        limit = min(int(body.get("limit") or 50), 100)
        rows = sorted(
            (key for key in self.customers if key[0] in userids), key=lambda key: (userids.index(key[0]), key[1])
        )
        start = int(body.get("cursor") or 0)
        page = rows[start:start + limit]
        items = [{
            "external_contact": self._person(external_userid, self.customers[(userid, external_userid)]),
            "follow_info": {
                "userid": userid, "remark": self.customers[(userid, external_userid)].remark,
                "description": self.customers[(userid, external_userid)].description,
                "createtime": self.customers[(userid, external_userid)].createtime,
                "tag_id": list(self.customers[(userid, external_userid)].tags), "remark_mobiles": [],
                "add_way": 1, "state": self.customers[(userid, external_userid)].state,
            },
        } for userid, external_userid in page]
        next_cursor = str(start + limit) if start + limit < len(rows) else ""
        return {**OK, "external_contact_list": items, "next_cursor": next_cursor}

    def contact_get(self, params, body):
        external_userid = params.get("external_userid")
        follows = [(userid, c) for (userid, ext), c in self.customers.items() if ext == external_userid]
        if not follows:
            return {"errcode": 84061, "errmsg": "not external contact"}
        return {**OK, "external_contact": self._person(external_userid, follows[0][1]), "follow_user": [
            {"userid": userid, "remark": c.remark, "description": c.description, "createtime": c.createtime,
             "tags": [{"group_name": "?", "tag_name": "?", "type": 1, "tag_id": tag_id} for tag_id in c.tags]
             + [{"group_name": "", "tag_name": "mine", "type": 2}], "remark_mobiles": [], "add_way": 1}
            for userid, c in follows
        ], "next_cursor": ""}

    def corp_tags(self, params, body):
        return {**OK, "tag_group": [
            {"group_id": group_id, "group_name": group["group_name"], "create_time": 1700000000, "order": 1,
             "tag": [{"id": tag_id, "name": name, "create_time": 1700000000, "order": 1}
                     for tag_id, name in group["tags"].items()]}
            for group_id, group in self.tag_groups.items()
        ]}

    def add_corp_tag(self, params, body):
        group_id = body.get("group_id")
        if group_id is None:
            group_id = next((gid for gid, g in self.tag_groups.items() if g["group_name"] == body.get("group_name")),
                            None)
        if group_id is None:
            self.created += 1
            group_id = f"etNEWGROUP{self.created}"
            self.tag_groups[group_id] = {"group_name": body.get("group_name", ""), "tags": {}}
        group = self.tag_groups[group_id]
        made = []
        for tag in body.get("tag") or []:
            if tag["name"] in group["tags"].values():
                return {"errcode": 40071, "errmsg": "tag name exists"}
            self.created += 1
            tag_id = f"etNEW{self.created}"
            group["tags"][tag_id] = tag["name"]
            made.append({"id": tag_id, "name": tag["name"], "create_time": 1700000000, "order": 0})
        return {**OK, "tag_group": {"group_id": group_id, "group_name": group["group_name"], "create_time": 1,
                                    "order": 1, "tag": made}}

    def _customer(self, body) -> Customer | None:
        return self.customers.get((body.get("userid"), body.get("external_userid")))

    def mark_tag(self, params, body):
        customer = self._customer(body)
        if customer is None:
            return {"errcode": 84061, "errmsg": "not external contact"}
        if not body.get("add_tag") and not body.get("remove_tag"):
            return {"errcode": 40058, "errmsg": "add_tag and remove_tag both empty"}
        customer.tags = sorted((set(customer.tags) | set(body.get("add_tag") or [])) - set(body.get("remove_tag") or []))
        return dict(OK)

    def remark(self, params, body):
        customer = self._customer(body)
        if customer is None:
            return {"errcode": 84061, "errmsg": "not external contact"}
        if len(body.get("remark") or "") > 20 or len(body.get("description") or "") > 150:
            return {"errcode": 40058, "errmsg": "remark too long"}
        customer.remark, customer.description = body.get("remark", ""), body.get("description", "")
        return dict(OK)

    def chat_list(self, params, body):
        ids = sorted(self.chats)
        limit = int(body.get("limit") or 100)
        start = int(body.get("cursor") or 0)
        next_cursor = str(start + limit) if start + limit < len(ids) else ""
        return {**OK, "group_chat_list": [{"chat_id": chat_id, "status": 0} for chat_id in ids[start:start + limit]],
                "next_cursor": next_cursor}

    def chat_get(self, params, body):
        chat = self.chats.get(body.get("chat_id"))
        if chat is None:
            return {"errcode": 49008, "errmsg": "chat not found"}
        return {**OK, "group_chat": chat}
