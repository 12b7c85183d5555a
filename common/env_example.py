"""`.env.example`: every setting with its default and meaning, rendered from `SETTINGS`.

Why it exists: a deployer needs one file listing every variable the processes read; writing it by
hand lets it drift from `common/settings.py`. It is generated (`make schemas`), committed, and a
unit test fails when it no longer matches. Each setting is commented out at its default, so
copying the file to `.env` changes nothing until a line is uncommented.

docker-compose.yml reads a few variables of its own (for interpolation, never by the code);
they are listed here too, in their own section, so one file documents a deployment.
"""

from __future__ import annotations

from common.settings import SETTINGS, Setting

HEADER = """\
# fleetstream settings: every environment variable the processes read, at its default.
# Copy to .env (read from the working directory; real environment variables win) and uncomment
# what you change. `fleetstream config` shows the effective values with secrets masked.
# Generated from common/settings.py by `make schemas`; do not edit by hand.
"""

COMPOSE_VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("KAFKA_EXTERNAL_HOST", "localhost",
     "Host name agents on other machines reach Kafka at (advertised external listener)."),
    ("KAFKA_EXTERNAL_PORT", "9094", "Published port of Kafka's external listener."),
    ("KAFKA_CLUSTER_ID", "7etPqJyPWva4w9Oh2jlQpw",
     "KRaft cluster id (base64 UUID) used when the Kafka volume is first formatted."),
    ("POSTGRES_PASSWORD", "fleetstream", "Password of the fleetstream PostgreSQL role."),
    ("FLEETSTREAM_WORKERS", "2", "Stream worker replicas: one per core, at most the partitions."),
    ("FLEETSTREAM_WEB_PUBLISH", "6066-6073",
     "Host ports published for the worker replicas' HTTP (one port per replica)."),
    ("TSDB_RETENTION", "1y", "How long VictoriaMetrics keeps the fleet series."),
    ("PROMETHEUS_RETENTION", "15d", "How long Prometheus keeps the pipeline metrics."),
    ("GRAFANA_ADMIN_PASSWORD", "admin", "Grafana's admin password (change it)."),
)
"""(variable, default, meaning) of the variables only docker-compose.yml interpolates."""


def _entry(setting: Setting) -> str:
    readers = ", ".join(sorted(setting.used_by))
    secret = " Secret: masked wherever shown." if setting.secret else ""
    lines = [f"# {setting.doc}{secret}", f"# Read by: {readers}."]
    if setting.default is None:
        lines.append(f"{setting.env}=")
    else:
        lines.append(f"# {setting.env}={setting.default}")
    return "\n".join(lines)


def render() -> str:
    """The text of `.env.example`."""
    settings = "\n\n".join(_entry(setting) for setting in SETTINGS)
    compose = "\n\n".join(f"# {doc}\n# {name}={default}"
                          for name, default, doc in COMPOSE_VARIABLES)
    return (f"{HEADER}\n{settings}\n\n"
            "# --- docker-compose.yml only (interpolated by compose, not read by fleetstream) ---\n"
            "# docker-compose.yml also requires FLEETSTREAM_INGEST_TOKEN (above) to be set.\n\n"
            f"{compose}\n")
