# Views to be written.

def group_list(request, *args, **kwargs):
    raise NotImplementedError


def group_create(request, *args, **kwargs):
    raise NotImplementedError


def group_detail(request, *args, **kwargs):
    raise NotImplementedError


def group_edit(request, *args, **kwargs):
    raise NotImplementedError


def group_delete(request, *args, **kwargs):
    raise NotImplementedError


def group_members_add(request, *args, **kwargs):
    raise NotImplementedError


def group_member_remove(request, *args, **kwargs):
    raise NotImplementedError


