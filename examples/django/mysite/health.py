"""The load balancer's health check of an ECS task, answered before Django checks the Host header.

The ALB sends its health check to each task's private IP and port, with that as the Host (``10.80.0.23:8080``): no
ALLOWED_HOSTS can list it ahead, as every new task gets a new address, and Django would answer 400 (DisallowedHost), so
that no task ever turned healthy. This middleware, first in MIDDLEWARE, answers ``GET /health`` itself when the Host
is a private IP address, and hands every other request to Django, which refuses a Host outside ALLOWED_HOSTS as usual.
"""

import ipaddress

from django.http import JsonResponse

HEALTH_PATH = "/health"  # spillover_app_health_path, the ECS target group's health check path


def private_address(host):
    """True when the Host header ``host`` (an address with a port or without, IPv6 in brackets) is a private IP."""
    if host.startswith("["):
        address = host[1 : host.find("]")]
    else:
        address = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        return ipaddress.ip_address(address).is_private
    except ValueError:
        return False


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.path_info == HEALTH_PATH
            and request.method in ("GET", "HEAD")
            and private_address(request.META.get("HTTP_HOST", ""))
        ):
            return JsonResponse({"message": "healthy"})
        return self.get_response(request)
