from django.http import JsonResponse


def index(request):
    """The Host and scheme Django sees behind the load balancer."""
    return JsonResponse({"message": "hello", "host": request.get_host(), "secure": request.is_secure()})


def health(request):
    """The health path asked with one of ALLOWED_HOSTS (the deploy check with spillover_app_health_host)."""
    return JsonResponse({"message": "healthy"})
