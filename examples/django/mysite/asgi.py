"""
ASGI config for mysite project.

It exposes the ASGI callable as a module-level variable named ``application``: spillover_app_callable
mysite.asgi:application with spillover_app_interface asgi.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_asgi_application()
