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
# agentlocator.serve: WEB_CONCURRENCY daphne processes on $PORT (8000 when unset), each with a 30 s HTTP
# timeout and a 5 s WebSocket handshake; exec keeps it PID 1, so docker's SIGTERM stops them all.
CMD ["sh", "-c", "exec python -m agentlocator.serve"]
