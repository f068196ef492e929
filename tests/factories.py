from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import (
    Contact,
    ContactTag,
    CustomerGroup,
    GroupMembership,
    Member,
    Order,
    Tag,
    TagGroup,
    WeChatAccount,
    Workspace,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"店铺{n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Member.Role.STAFF


class WeChatAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeChatAccount

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"小美{n}号")
    wechat_id = factory.Sequence(lambda n: f"xiaomei_{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    workspace = factory.SubFactory(WorkspaceFactory)
    owner_account = factory.SubFactory(WeChatAccountFactory, workspace=factory.SelfAttribute("..workspace"))
    nickname = factory.Sequence(lambda n: f"顾客{n}🌸")
    remark_name = factory.Sequence(lambda n: f"王姐{n}-老客")
    wechat_id = factory.Sequence(lambda n: f"wxid_{n:08d}")
    added_at = factory.LazyFunction(timezone.now)


class TagGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TagGroup

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"分组{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"标签{n}")
    slug = factory.Sequence(lambda n: f"tag-{n}")


class ContactTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactTag

    content_object = factory.SubFactory(ContactFactory)
    tag = factory.SubFactory(TagFactory, workspace=factory.SelfAttribute("..content_object.workspace"))


class CustomerGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerGroup

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"海参福利群{n}")


class GroupMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GroupMembership

    group = factory.SubFactory(CustomerGroupFactory)
    contact = factory.SubFactory(ContactFactory, workspace=factory.SelfAttribute("..group.workspace"))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    contact = factory.SubFactory(ContactFactory)
    workspace = factory.SelfAttribute("contact.workspace")
    amount = Decimal("199.00")
    placed_at = factory.LazyFunction(timezone.now)
    channel = Order.Channel.WECHAT


def tag_contact(contact, *tags):
    for tag in tags:
        ContactTag.objects.create(content_object=contact, tag=tag)


class ExportJobFactory(factory.django.DjangoModelFactory):
    """An export job of the whole contact list, queued; tests run it with crm.exports_jobs.export_job_run."""

    class Meta:
        model = "crm.ExportJob"

    workspace = factory.SubFactory(WorkspaceFactory)
    requested_by = factory.SubFactory(UserFactory)
    format = "csv"
    source = "list"
    language = "en"
    file_name = factory.Sequence(lambda n: f"contacts-{n}.csv")
