from __future__ import annotations

import os
import shutil
import subprocess
import sys


def test_demo_runs_offline_end_to_end(tmp_path):
    exe = shutil.which("task-orchestrator") or f"{sys.executable} -m task_orchestrator.cli"
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("GOOGLE_API_KEY", None)
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run(
        [*exe.split(), "demo"], capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "output does not match Release" in text  # attempt 1 failed verification
    assert "status=succeeded" in text
    assert "waiting_for_approval" in text
    assert "shred destroys file contents" in text
    assert "build/ still there: True" in text
    assert "build/ still there: False" in text
    assert "scripted-model" in text
    assert "$0.000" in text  # the cost table
    assert not (tmp_path / ".task-orchestrator").exists()  # the demo used a temp dir


def test_approvals_recover_of_a_thread_with_nothing_to_recover_is_a_clear_error(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "d")}
    out = subprocess.run(
        [sys.executable, "-m", "task_orchestrator.cli", "approvals", "recover", "no-such-thread"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert "no unfinished run to recover" in out.stderr
    assert "Traceback" not in out.stderr


def test_memory_reembed_moves_failures_into_the_default_embedders_index(tmp_path):
    from task_orchestrator import Settings
    from task_orchestrator.memory import FailureRecord
    from task_orchestrator.memory.embeddings import HashingEmbedder
    from task_orchestrator.memory.store import PersistentFailureMemory

    data = tmp_path / "d"
    mem = PersistentFailureMemory(Settings(data_dir=data, _env_file=None), embedder=HashingEmbedder())
    for cmd in ("git push --force origin main", "rm -rf build", "pip install reqeusts"):
        mem.record(FailureRecord(action=cmd, error="failed"))
    mem.close()
    env = {**os.environ, "HOME": str(tmp_path), "TASK_ORCHESTRATOR_DATA_DIR": str(data)}
    run = [sys.executable, "-m", "task_orchestrator.cli", "memory"]
    out = subprocess.run([*run, "reembed"], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "embedded 3 failures with all-MiniLM-L6-v2-int8+paraphrase-wccn" in out.stdout
    again = subprocess.run([*run, "reembed"], capture_output=True, text=True, env=env, timeout=180)
    assert "embedded 0 failures" in again.stdout  # idempotent


def test_approvals_with_no_subcommand_lists_them(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "d")}
    out = subprocess.run(
        [sys.executable, "-m", "task_orchestrator.cli", "approvals"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "waiting for approval" in out.stdout


def test_status_fits_80_columns_and_shows_whole_paths(tmp_path):
    data = tmp_path / "a-rather-long-folder-name-for-the-data" / "of-this-user" / "task-orchestrator-data"
    env = {**os.environ, "HOME": str(tmp_path), "TASK_ORCHESTRATOR_DATA_DIR": str(data), "COLUMNS": "80"}
    out = subprocess.run(
        [sys.executable, "-m", "task_orchestrator.cli", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    assert str(data) in out.stdout.replace("\n", "")  # the path whole (wrapped), never cut with "…"
    assert "…" not in out.stdout
