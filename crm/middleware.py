from crm import selectors

SESSION_WORKSPACE_KEY = "workspace_id"


class WorkspaceMiddleware:
    """Puts the signed-in user's membership on the request: request.member and request.workspace.

    A user may belong to several workspaces; the session remembers which one they are working in.
    Both are None for anonymous users and for users without a membership.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.member = None
        if request.user.is_authenticated:
            request.member = selectors.member_for_user(
                user=request.user, workspace_id=request.session.get(SESSION_WORKSPACE_KEY)
            )
        request.workspace = request.member.workspace if request.member else None
        return self.get_response(request)
