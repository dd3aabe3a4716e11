# The engine's image for compose.yaml: API, projector, executors and callback deliverer (one image).
# Debian's own runtimes, as on the local stack: user programs run with /usr/bin/python3 and friends.
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
        python3 python3-venv ca-certificates bubblewrap libseccomp2 \
        gcc g++ libc6-dev php-cli ruby default-jdk-headless nodejs npm golang-go rustc \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The pinned, hash-checked versions that were tested (requirements.lock, test tools included:
# one lock), in their own layer so that a code change does not reinstall them.
COPY requirements.lock ./
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -q --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY api api
COPY callbacks callbacks
COPY processors processors
COPY projections projections
COPY sandbox sandbox
COPY schemas schemas
COPY config config
COPY telemetry telemetry
COPY eventlog eventlog
COPY fleet fleet
COPY devstack devstack
COPY bench bench
COPY runbox runbox
RUN /opt/venv/bin/pip install --no-cache-dir -q --no-deps . \
    && devstack/runtimes.sh

EXPOSE 3000
CMD ["python", "-m", "api"]
