"""Make the benchmark's workspace and user, and pick the filter it measures (run by tests/bench/run.sh).

    .venv/bin/python tests/bench/prepare.py user       # the bench workspace and its owner (password from
                                                       # BENCH_PASSWORD); prints the workspace's contact count
    .venv/bin/python tests/bench/prepare.py scenario   # prints the filter to measure as JSON: two popular tags,
                                                       # a common remark fragment, and how many contacts match
    .venv/bin/python tests/bench/prepare.py forget     # selectors.book_changed(): the next request is cold

Uses whatever DATABASE_URL and REDIS_URL run.sh exported.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Count  # noqa: E402

from crm import selectors, services  # noqa: E402
from crm.models import Contact, ContactTag, Member, Tag, Workspace  # noqa: E402

SLUG = os.environ.get("BENCH_WORKSPACE", "bench")
USERNAME = os.environ.get("BENCH_USERNAME", "bench")
# A remark fragment most sellers' books are full of (张姐, 李姐...): one character, so no trigram index can help,
# the hard case for the search.
SEARCH = os.environ.get("BENCH_SEARCH", "姐")


def user() -> None:
    password = os.environ["BENCH_PASSWORD"]
    User = get_user_model()
    owner = User.objects.filter(username=USERNAME).first()
    if owner is None:
        owner = User.objects.create_user(username=USERNAME, password=password)
    else:
        owner.set_password(password)
        owner.save(update_fields=["password"])
    workspace = Workspace.objects.filter(slug=SLUG).first()
    if workspace is None:
        workspace = services.workspace_create(name="压测海味", slug=SLUG, owner=owner)
    Member.objects.get_or_create(workspace=workspace, user=owner, defaults={"role": Member.Role.OWNER})
    print(Contact.objects.filter(workspace=workspace).count())


def scenario() -> None:
    """The two most popular tags, the search, and the true number of matches (counted, not cached)."""
    member = Member.objects.get(workspace__slug=SLUG, user__username=USERNAME)
    popular = (
        ContactTag.objects.filter(tag__workspace=member.workspace)
        .values("tag_id")
        .annotate(n=Count("id"))
        .order_by("-n", "tag_id")
    )
    tags = [row["tag_id"] for row in popular[:2]]
    filters = selectors.ContactFilter(tags_all=tuple(sorted(tags)), q=SEARCH)
    matches = selectors.contact_list(member=member, filters=filters).count()
    names = dict(Tag.objects.filter(pk__in=tags).values_list("pk", "name"))
    print(json.dumps({
        "workspace_id": member.workspace_id,
        "tags": tags,
        "tag_names": [names[t] for t in tags],
        "q": SEARCH,
        "matches": matches,
        "contacts": Contact.objects.filter(workspace=member.workspace).count(),
    }, ensure_ascii=False))


def forget() -> None:
    selectors.book_changed(workspace_id=Workspace.objects.get(slug=SLUG).pk)


if __name__ == "__main__":
    {"user": user, "scenario": scenario, "forget": forget}[sys.argv[1]]()
