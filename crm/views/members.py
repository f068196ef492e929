# Views to be written.

def member_list(request, *args, **kwargs):
    raise NotImplementedError


def member_add(request, *args, **kwargs):
    raise NotImplementedError


def member_edit(request, *args, **kwargs):
    raise NotImplementedError


def member_remove(request, *args, **kwargs):
    raise NotImplementedError


def workspace_switch(request, *args, **kwargs):
    raise NotImplementedError


