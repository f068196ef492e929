# Views to be written.

def tag_list(request, *args, **kwargs):
    raise NotImplementedError


def tag_create(request, *args, **kwargs):
    raise NotImplementedError


def tag_edit(request, *args, **kwargs):
    raise NotImplementedError


def tag_merge(request, *args, **kwargs):
    raise NotImplementedError


def tag_delete(request, *args, **kwargs):
    raise NotImplementedError


def tag_group_create(request, *args, **kwargs):
    raise NotImplementedError


def tag_group_edit(request, *args, **kwargs):
    raise NotImplementedError


def tag_group_delete(request, *args, **kwargs):
    raise NotImplementedError


