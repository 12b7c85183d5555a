# fleetstream image for docker-compose.yml: the stream worker and the agents share it.
FROM python:3.11-slim-bookworm
# libvirt-python builds from source against the libvirt headers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc \
    && rm -rf /var/lib/apt/lists/*
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY common ./common
COPY fleetstream ./fleetstream
COPY schemas ./schemas
COPY producers ./producers
COPY streams ./streams
RUN pip install --no-cache-dir .
# An unprivileged user owns the state directory; a named volume mounted there starts out with
# this ownership, so the outbox is writable without root.
RUN useradd --system --uid 10001 --home-dir /var/lib/fleetstream fleetstream \
    && mkdir -p /var/lib/fleetstream \
    && chown fleetstream:fleetstream /var/lib/fleetstream
USER fleetstream
ENV FLEETSTREAM_DATA_DIR=/var/lib/fleetstream
EXPOSE 6066
ENTRYPOINT ["fleetstream"]
CMD ["worker"]
