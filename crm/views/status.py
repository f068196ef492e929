# Views to be written.

def status(request, *args, **kwargs):
    raise NotImplementedError


