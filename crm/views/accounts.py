# Views to be written.

def account_list(request, *args, **kwargs):
    raise NotImplementedError


def account_create(request, *args, **kwargs):
    raise NotImplementedError


def account_edit(request, *args, **kwargs):
    raise NotImplementedError


