# One blockhook worker (Faust, the follower and the HTTP API); see docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Pinned runtime dependencies first, so a code change does not reinstall them. Only the
# runtime lock: dev and test tooling (requirements-dev.lock) stays out of the image. Every
# package in it ships a manylinux wheel for CPython 3.11, so no compiler is needed.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# The runtime packages only: not the dev room (dev/), tests/ or bench/; setuptools' find
# includes what exists (see pyproject.toml), so the missing dev/ is simply not installed.
COPY pyproject.toml README.md ./
COPY core ./core
COPY schemas ./schemas
COPY streams ./streams
COPY chain ./chain
COPY transport ./transport
COPY views ./views
COPY faust_app ./faust_app
COPY api ./api
COPY console ./console
COPY agents ./agents
COPY blockhook ./blockhook
COPY signer ./signer
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/blockhook blockhook \
    && mkdir -p /var/lib/blockhook/data /etc/blockhook \
    && chown -R blockhook /var/lib/blockhook

USER blockhook
WORKDIR /var/lib/blockhook

# The HTTP API (api_bind must be 0.0.0.0:8000 inside a container, as in deploy/blockhook.toml).
EXPOSE 8000

ENTRYPOINT ["blockhook"]
CMD ["worker", "--config", "/etc/blockhook/blockhook.toml"]
