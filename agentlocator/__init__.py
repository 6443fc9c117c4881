# Load the Celery app when Django starts so @shared_task binds to it and tasks queue from web processes.
from agentlocator.celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "0.1.0"
