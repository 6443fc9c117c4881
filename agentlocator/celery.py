"""The Celery app, in the usual Django layout: settings under the CELERY_ namespace, tasks autodiscovered
(each app's ``tasks`` module, and ``reconciler_tasks`` for the periodic call reconciler that beat runs)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentlocator.settings")

app = Celery("agentlocator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="reconciler_tasks")
