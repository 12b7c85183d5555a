# fleetstream image for docker-compose.yml: the stream worker and the agents share it.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fleetstream ./fleetstream
COPY schemas ./schemas
COPY producers ./producers
COPY streams ./streams
RUN pip install --no-cache-dir .
ENV FLEETSTREAM_DATA_DIR=/var/lib/fleetstream
EXPOSE 6066
ENTRYPOINT ["fleetstream"]
CMD ["worker"]
