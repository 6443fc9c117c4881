# One image for web (daphne) and worker (celery); docker-compose.yml runs the production topology.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt requirements-models.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-models.txt
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0
RUN useradd --system --home /app app && mkdir -p /app/media && chown app /app/media
USER app
EXPOSE 8000
# Timeouts: an app that does not answer in 30 s gets 503; a WebSocket handshake must finish in 5 s.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "--http-timeout", "30", \
     "--websocket_connect_timeout", "5", "agentlocator.asgi:application"]
