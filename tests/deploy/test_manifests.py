"""deploy/, the Dockerfile and docker-compose.yml, checked offline (no cluster, no
docker daemon here): every manifest parses and holds what the docs promise, the
probes' commands work, and each KEDA trigger reads the real backlog of its broker."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import asyncpg
import kubernetes_validate
import pytest
import yaml

from asynctasq.contrib.asgi import HealthApp
from asynctasq.queues import Queue
from tests.backend_base import Backend
from tests.conftest import only_backends
from tests.workers import ROOT

KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES = "1.30"  # the oldest version the manifests support


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for p in sorted(KUBE.glob("*.yaml")) for d in documents(p) if d["kind"] == kind]


def test_every_manifest_has_the_fields_kubernetes_requires() -> None:
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in documents(path):
            assert doc["apiVersion"] and doc["kind"], path
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), path


def test_the_kubernetes_objects_validate_against_the_api_schema() -> None:
    """Strict: an unknown or misspelt field fails too (KEDA's ScaledObject is a CRD,
    not in these schemas: checked below, field by field)."""
    kinds = set()
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in documents(path):
            if doc["apiVersion"].startswith("keda.sh/"):
                continue
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
            kinds.add(doc["kind"])
    assert kinds == {"Secret", "Deployment", "PodDisruptionBudget"}
    (deployment,) = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["readinessProbe"]["exec"]["comand"] = ["typo"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_worker_stops_within_its_grace_period_and_is_probed_by_asynctasq_health() -> None:
    (deployment,) = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (worker,) = pod["containers"]
    env = {e["name"]: e["value"] for e in worker["env"]}
    pre_stop = int(worker["lifecycle"]["preStop"]["exec"]["command"][1])
    assert (
        float(env["ASYNCTASQ_SHUTDOWN_TIMEOUT"]) + pre_stop < pod["terminationGracePeriodSeconds"]
    )
    assert worker["readinessProbe"]["exec"]["command"][:2] == ["asynctasq", "health"]
    assert "--file" in worker["livenessProbe"]["exec"]["command"]
    assert worker["resources"]["requests"] and worker["resources"]["limits"]
    assert "--health-file" in worker["args"]
    assert worker["envFrom"][0]["secretRef"]["name"] in {
        s["metadata"]["name"] for s in by_kind("Secret")
    }
    (budget,) = by_kind("PodDisruptionBudget")
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]


def test_each_scaled_object_targets_the_worker() -> None:
    names = {d["metadata"]["name"] for d in by_kind("Deployment")}
    scaled = by_kind("ScaledObject")
    assert {t["type"] for s in scaled for t in s["spec"]["triggers"]} == {
        "postgresql",
        "mysql",
        "prometheus",
    }
    for s in scaled:
        assert s["apiVersion"] == "keda.sh/v1alpha1"
        assert s["spec"]["scaleTargetRef"]["name"] in names
        assert s["spec"]["minReplicaCount"] <= s["spec"]["maxReplicaCount"]


def test_the_liveness_probe_command_reads_the_heartbeat_file(tmp_path: Path) -> None:
    (deployment,) = by_kind("Deployment")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    argv = [
        a.replace("/tmp/worker.health", str(tmp_path / "h")) for a in command["exec"]["command"]
    ]
    run = [sys.executable, "-m", "asynctasq", *argv[1:]]
    assert subprocess.run(run, capture_output=True, timeout=60).returncode != 0  # no file yet
    (tmp_path / "h").write_text(str(time.time()))
    result = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_and_dockerfile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        assert service["profiles"], name
        if "build" in service:
            grace = int(service["stop_grace_period"].rstrip("s"))
            assert float(service["environment"]["ASYNCTASQ_SHUTDOWN_TIMEOUT"]) < grace
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", dockerfile, re.M)  # not root
    assert 'ENTRYPOINT ["asynctasq"]' in dockerfile  # exec form: SIGTERM reaches the worker


def keda_query(trigger_type: str) -> str:
    (trigger,) = [
        t
        for s in by_kind("ScaledObject")
        for t in s["spec"]["triggers"]
        if t["type"] == trigger_type
    ]
    return str(trigger["metadata"]["query"])


async def grow_and_shrink(backend: Backend, read: Any) -> None:
    """The metric follows the ready backlog: up as jobs arrive, not counting a
    delayed one, down as they are taken."""
    queue = Queue("default", backend=await backend.new_driver())
    assert await read() == 0
    for n in range(3):
        await queue.add("elsewhere.task", kwargs={"n": n})
    await queue.add("elsewhere.task", kwargs={"n": 9}, delay=3600)
    assert await read() == 3 == (await queue.queue_stats())["waiting"]
    driver = await queue.driver()
    taken = await driver.claim(["default"], limit=2, worker_id="w1", lease_seconds=60)
    assert len(taken) == 2
    assert await read() == 1


@only_backends("postgres")
async def test_the_keda_postgresql_query_reads_the_backlog(backend: Backend) -> None:
    query = keda_query("postgresql").replace("asynctasq.jobs", f'"{backend.schema}".jobs')  # type: ignore[attr-defined]
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        await grow_and_shrink(backend, lambda: con.fetchval(query))
    finally:
        await con.close()


@only_backends("mysql")
async def test_the_keda_mysql_query_reads_the_backlog(backend: Backend) -> None:
    url = urlsplit(backend.dsn)  # type: ignore[attr-defined]
    con = await aiomysql.connect(
        host=url.hostname,
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        db=url.path.lstrip("/"),
        autocommit=True,
    )

    async def read() -> int:
        async with con.cursor() as cur:
            await cur.execute(keda_query("mysql"))
            return int((await cur.fetchone())[0])

    try:
        await grow_and_shrink(backend, read)
    finally:
        con.close()


@only_backends("redis")
async def test_the_prometheus_gauge_and_backlog_endpoint_read_the_backlog(backend: Backend) -> None:
    ops = HealthApp([Queue("default", backend=await backend.new_driver())])
    metric = keda_query("prometheus")
    series = re.search(r"\{(.*)\}", metric).group(1)  # type: ignore[union-attr]

    async def read() -> int:
        _, _, body = await ops.metrics()
        (line,) = [
            x
            for x in body.decode().splitlines()
            if x.startswith("asynctasq_queue_jobs{")
            and all(label in x for label in series.split(","))
        ]
        from_gauge = int(float(line.rsplit(" ", 1)[1]))
        _, _, backlog = await ops.backlog()
        assert from_gauge == int(re.search(rb'"waiting": (\d+)', backlog).group(1))  # type: ignore[union-attr]
        return from_gauge

    await grow_and_shrink(backend, read)
