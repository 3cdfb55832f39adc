"""An operator starting production with a weak configuration is stopped, not warned."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_refuses_the_demo_secret_key():
    result = run_manage("check", SECRET_KEY="insecure-demo-key-change-me-in-production")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_passes_the_deployment_checklist_with_a_real_secret_key():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="clusterhub.example.org",
    )
    assert result.returncode == 0, result.stderr
