"""No Docker engine runs here: lint the Dockerfile, then run its steps in a fresh venv."""

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name):
    return [
        line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(name + " ")
    ]


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_image_is_slim_non_root_with_volume_healthcheck_and_run():
    assert instructions("FROM") == ["python:3.11-slim"]
    [user] = instructions("USER")
    assert user not in ("root", "0")
    assert instructions("VOLUME") == ['["/app/state"]']
    assert instructions("CMD") == ['["trade-monitor", "run"]']
    assert "HEALTHCHECK" in DOCKERFILE


def test_the_dockerfile_steps_install_and_run_in_a_fresh_venv(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    for copy in instructions("COPY"):
        *sources, _ = shlex.split(copy)
        for source in sources:
            src = ROOT / source.rstrip("/")
            if src.is_dir():
                shutil.copytree(src, app / src.name)
            else:
                shutil.copy2(src, app / src.name)
    # Build the wheel from exactly what the image copies, install it in a fresh venv, and
    # let that venv find the dependencies this test environment already has (no network).
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            wheels,
            ".",
        ],
        cwd=app,
        check=True,
        capture_output=True,
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    [wheel] = wheels.glob("*.whl")
    subprocess.run(
        [env_dir / "bin" / "pip", "install", "-q", "--no-deps", "--no-index", wheel], check=True
    )
    [site_dir] = env_dir.glob("lib/python3*/site-packages")
    (site_dir / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (app / "state").mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SMTP_", "PYTHONPATH"))
    }
    env |= {
        "TRADE_MONITOR_CONFIG": str(app / "config.yaml"),
        "PATH": f"{env_dir / 'bin'}:{env['PATH']}",
    }
    tool = str(env_dir / "bin" / "trade-monitor")
    run = subprocess.run(
        [tool, "run", "--once"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert "[HIGH]" in run.stdout, run.stderr
    health = subprocess.run([tool, "status"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert health.returncode == 0 and "seeds" in health.stdout
    assert (app / "state" / "trade-monitor.db").exists()
