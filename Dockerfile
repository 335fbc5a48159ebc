# qoder-slack: `docker build -t qoder-slack .`, then run it with the configuration in the environment
# (`docker run --env-file .env qoder-slack`). Nothing secret is baked in: tokens come only from the
# environment at run time, and .dockerignore keeps .env and local databases out of the build context.
FROM python:3.12.8-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000 \
    STORE_URL=sqlite:////data/qoder-slack.db

WORKDIR /app

# Dependencies first, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir bot && touch bot/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes qoder-slack \
    && rm -rf bot

COPY app.py ./
COPY bot ./bot
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin qoder \
    && mkdir /data \
    && chown qoder /data

USER 10001
# The embedded SQLite store lives here; with STORE_URL=redis://… nothing is written to disk.
VOLUME ["/data"]
EXPOSE 3000

# Liveness: /healthz answers 200 while the bot serves (readiness, /readyz, also checks Slack, Qoder, store).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["python", "app.py"]
