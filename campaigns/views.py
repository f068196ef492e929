"""Broadcast pages."""

from django.shortcuts import render

from campaigns.models import Broadcast
from crm.views.access import member_required


@member_required
def broadcast_list(request):
    broadcasts = Broadcast.objects.filter(workspace=request.workspace)[:100]
    return render(request, "campaigns/broadcasts/list.html", {"broadcasts": broadcasts})
