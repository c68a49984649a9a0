"""Issue 34: the free tier. Calls are paced per provider and model across processes, a rate limit
is told apart from an outage, a retry delay is honoured, and a used-up daily quota falls back or
ends the task with its reset time. The real Gemini and OpenAI clients talk to loopback endpoints
that answer like the real APIs (task_orchestrator.fake_endpoints)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from task_orchestrator import providers
from task_orchestrator.errors import ProviderCallFailed, QuotaExhausted
from task_orchestrator.fake_endpoints import FakeGemini, FakeOpenAI
from task_orchestrator.graphs.context import open_context
from task_orchestrator.pacing import Pacer, next_quota_reset
from task_orchestrator.settings import RateLimit, Settings
from task_orchestrator.testing import SCRIPTED_PRICES

FLASH = "gemini-2.5-flash"


@pytest.fixture(autouse=True)
def _loopback_providers(monkeypatch):
    """The real clients may be built here: every endpoint they are given is on loopback."""
    monkeypatch.setattr(providers, "ALLOW_REAL_PROVIDERS", True)


def _settings(tmp_path, **kw) -> Settings:
    base = dict(
        data_dir=tmp_path / "data",
        providers=["gemini"],
        google_api_key="fake-gemini-key",
        openai_api_key="sk-fake",
        prices=SCRIPTED_PRICES,
        embedder="hashing",
        request_timeout_s=5.0,
        _env_file=None,
    )
    base.update(kw)
    return Settings(**base)


def _router(settings: Settings):
    ctx = open_context(settings)
    return ctx, ctx.router


# -- the pacer on its own -------------------------------------------------------------------------


def test_requests_are_spaced_so_no_window_holds_more_than_the_limit(tmp_path):
    now = [1_000_000.0]
    pacer = Pacer(tmp_path / "p.sqlite", lambda p, m: RateLimit(rpm=3, window_s=10), clock=lambda: now[0])
    times = [pacer.reserve("gemini", FLASH).at for _ in range(7)]
    assert times[:3] == [now[0]] * 3  # a burst within the limit goes at once
    assert all(t == pytest.approx(now[0] + 10, abs=0.1) for t in times[3:6])
    assert times[6] == pytest.approx(now[0] + 20, abs=0.2)
    for i in range(len(times)):  # every window of 10 s holds at most 3
        assert sum(1 for t in times if times[i] <= t < times[i] + 10) <= 3
    use = pacer.usage("gemini", FLASH)
    assert use["used_window"] == 3 and use["used_today"] == 7 and use["next_free_in_s"] >= 19


def test_a_day_of_requests_used_up_is_refused_until_midnight_pacific(tmp_path):
    now = [1_796_600_000.0]
    pacer = Pacer(tmp_path / "p.sqlite", lambda p, m: RateLimit(rpd=2), clock=lambda: now[0])
    pacer.reserve("gemini", FLASH)
    pacer.reserve("gemini", FLASH)
    with pytest.raises(QuotaExhausted) as err:
        pacer.reserve("gemini", FLASH)
    assert err.value.until == next_quota_reset(now[0]) and "quota exhausted until" in str(err.value)
    assert "no circuit breaker opened" in str(err.value)
    # the hold is kept for every process (and the report), not only raised here
    assert pacer.blocked_until("gemini", FLASH) == err.value.until
    assert [e["kind"] for e in pacer.events()] == ["quota"]
    now[0] = err.value.until + 1  # a new day
    assert pacer.reserve("gemini", FLASH).wait_s == 0


def test_a_quota_met_elsewhere_while_waiting_stops_the_waiting_call(tmp_path):
    now = [1_000_000.0]
    pacer = Pacer(tmp_path / "p.sqlite", lambda p, m: RateLimit(rpm=1, window_s=10), clock=lambda: now[0])
    pacer.acquire("gemini", FLASH, 60)

    def sleep(s: float) -> None:  # while this call waits its turn, another process meets the quota
        pacer.quota_exhausted("gemini", FLASH, None, "the day's request quota is used up")
        now[0] += s

    with pytest.raises(QuotaExhausted):
        pacer.acquire("gemini", FLASH, 60, sleep)
    assert pacer.usage("gemini", FLASH)["used_today"] == 1  # its slot was given back


def test_a_probe_stopped_by_a_quota_is_given_back(tmp_path):
    from task_orchestrator.breaker import CircuitBreakers

    now = [1_000.0]
    b = CircuitBreakers(tmp_path / "b.sqlite", failure_threshold=1, reset_timeout_s=30, clock=lambda: now[0])
    b.record_failure("gemini", "503")
    now[0] += 31
    assert b.allow("gemini")  # the probe is claimed ...
    assert not b.allow("gemini")
    b.release("gemini")  # ... and given back unused (the router does this on a quota or a rate limit)
    assert b.allow("gemini")


def test_a_shorter_429_never_cuts_a_longer_wait_short(tmp_path):
    now = [1_000_000.0]
    pacer = Pacer(tmp_path / "p.sqlite", lambda p, m: None, clock=lambda: now[0])
    pacer.rate_limited("gemini", FLASH, 60.0, "429: retry in 60 s")
    pacer.rate_limited("gemini", FLASH, 2.0, "429 with no delay: a 2 s backoff")
    assert pacer.reserve("gemini", FLASH).at == pytest.approx(now[0] + 60)


# -- the real Gemini client against a rate-limited endpoint ---------------------------------------


def test_paced_gemini_calls_never_meet_a_429(tmp_path):
    with FakeGemini(rpm=3, window_s=1.5) as fake:
        s = _settings(tmp_path, gemini_base_url=fake.url, rate_limits={FLASH: RateLimit(rpm=3, window_s=1.5)})
        ctx, router = _router(s)
        t0 = time.monotonic()
        answers = [router.invoke(f"q{i}", task_id=f"t{i}") for i in range(7)]
        wall = time.monotonic() - t0
        ctx.close()
    assert [a.provider for a in answers] == ["gemini"] * 7
    assert fake.stats()["sent_429"] == 0 and fake.stats()["answered"] == 7
    assert wall >= 3.0  # three windows were needed for seven requests at three per window


def test_a_gemini_429_is_waited_out_and_never_opens_the_breaker(tmp_path):
    # The key allows 2 per window; the settings say 5: the first 429 teaches the real limit.
    with FakeGemini(rpm=2, window_s=1.5) as fake:
        s = _settings(
            tmp_path,
            gemini_base_url=fake.url,
            rate_limits={FLASH: RateLimit(rpm=5, window_s=1.5)},
            breaker_failure_threshold=1,
        )
        ctx, router = _router(s)
        answers = [router.invoke(f"q{i}", task_id=f"t{i}") for i in range(6)]
        breaker = router.breakers.status("gemini")
        events = router.pacer.events()
        ctx.close()
    assert [a.provider for a in answers] == ["gemini"] * 6
    stats = fake.stats()
    assert stats["sent_429"] == 1 and stats["over_limit_after_first_429"] == 0
    assert breaker.state == "closed" and breaker.failures == 0  # threshold 1: a fault would open it
    assert events[0]["kind"] == "rate_limit" and "retry in" in events[0]["reason"]


def test_an_outage_still_opens_the_breaker(tmp_path):
    with FakeGemini([{"status": 503}, {"malformed": True}, {"status": 500}]) as fake:
        s = _settings(tmp_path, gemini_base_url=fake.url, breaker_failure_threshold=3)
        ctx, router = _router(s)
        for i in range(3):
            with pytest.raises(ProviderCallFailed):
                router.invoke(f"q{i}", task_id=f"t{i}")
        status = router.breakers.status("gemini")
        ctx.close()
    assert status.state == "open" and status.failures == 3
    assert "(outage)" in (status.last_error or "")
    assert fake.stats()["requests"] == 3


def test_a_used_up_daily_quota_falls_back_to_openai_without_asking_gemini_again(tmp_path):
    with (
        FakeGemini([{"quota": "daily"}]) as gemini,
        FakeOpenAI(["from openai", "again from openai"]) as openai,
    ):
        s = _settings(
            tmp_path,
            providers=["gemini", "openai"],
            gemini_base_url=gemini.url,
            openai_base_url=openai.url,
        )
        ctx, router = _router(s)
        first = router.invoke("q1", task_id="t1")
        second = router.invoke("q2", task_id="t2")
        breaker = router.breakers.status("gemini")
        use = router.pacer.usage("gemini", FLASH)
        ctx.close()
    assert (first.provider, first.message.content) == ("openai", "from openai")
    assert "quota exhausted until" in first.fallbacks[0]
    assert second.provider == "openai" and gemini.stats()["requests"] == 1  # held until the reset
    assert breaker.state == "closed" and breaker.failures == 0
    assert use["hold"].startswith("quota until")
    assert use["hold_until"] == pytest.approx(next_quota_reset(time.time()))


def test_a_used_up_daily_quota_alone_ends_the_task_with_its_reset_time(tmp_path):
    from task_orchestrator.runner import Orchestrator

    with FakeGemini([{"quota": "daily"}]) as gemini:
        s = _settings(tmp_path, gemini_base_url=gemini.url)
        with Orchestrator(s) as orch:
            first = orch.run("Name the capital of France in one sentence.")
            second = orch.run("Name the capital of Spain in one sentence.")
            breaker = orch.context.router.breakers.status("gemini")
    assert first["status"] == "error" and "gemini quota exhausted until" in first["error"]
    assert "(" in first["error"] and "UTC)" in first["error"]  # the reset time, as a time
    assert second["status"] == "error" and "quota exhausted" in second["error"]
    assert gemini.stats()["requests"] == 1  # the second task made no call
    assert breaker.state == "closed" and breaker.failures == 0


def test_openai_retry_after_is_honoured_and_is_no_fault(tmp_path):
    with FakeOpenAI([{"rate_limit": 1.2}, "after the wait"]) as openai:
        s = _settings(tmp_path, providers=["openai"], openai_base_url=openai.url, breaker_failure_threshold=1)
        ctx, router = _router(s)
        t0 = time.monotonic()
        answer = router.invoke("q", task_id="t")
        wall = time.monotonic() - t0
        breaker = router.breakers.status("openai")
        ctx.close()
    assert answer.message.content == "after the wait" and wall >= 1.2
    assert openai.stats()["requests"] == 2 and breaker.state == "closed"


def test_an_openai_billing_quota_is_a_quota_not_an_outage(tmp_path):
    with FakeOpenAI([{"quota": "billing"}]) as openai:
        s = _settings(tmp_path, providers=["openai"], openai_base_url=openai.url, breaker_failure_threshold=1)
        ctx, router = _router(s)
        with pytest.raises(QuotaExhausted, match=r"billing quota is used up\); it is not called again until"):
            router.invoke("q", task_id="t")
        breaker = router.breakers.status("openai")
        ctx.close()
    assert breaker.state == "closed"


def test_a_wait_longer_than_the_budget_moves_on_at_once(tmp_path):
    with FakeGemini([{"rate_limit": 30}]) as gemini, FakeOpenAI(["from openai"]) as openai:
        s = _settings(
            tmp_path,
            providers=["gemini", "openai"],
            gemini_base_url=gemini.url,
            openai_base_url=openai.url,
            rate_limit_max_wait_s=5,
        )
        ctx, router = _router(s)
        t0 = time.monotonic()
        answer = router.invoke("q", task_id="t")
        wall = time.monotonic() - t0
        ctx.close()
    assert answer.provider == "openai" and wall < 5
    assert "rate limited" in answer.fallbacks[0]


# -- across processes --------------------------------------------------------------------------------

_WORKER = """
import sys
from task_orchestrator.graphs.context import open_context
from task_orchestrator.settings import Settings
ctx = open_context(Settings(_env_file=None))
for i in range(int(sys.argv[1])):
    ctx.router.invoke(f"question {i}", task_id=f"w{i}")
ctx.close()
"""


def test_two_processes_sharing_a_data_directory_together_stay_under_the_limit(tmp_path):
    with FakeGemini(rpm=4, window_s=2.0) as fake:
        env = {
            **os.environ,
            "TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
            "TASK_ORCHESTRATOR_PROVIDERS": '["gemini"]',
            "TASK_ORCHESTRATOR_GEMINI_BASE_URL": fake.url,
            "TASK_ORCHESTRATOR_RATE_LIMITS": json.dumps({FLASH: {"rpm": 4, "window_s": 2.0}}),
            "TASK_ORCHESTRATOR_EMBEDDER": "hashing",
            "TASK_ORCHESTRATOR_PRICES": json.dumps({FLASH: {"input": 0.3, "output": 2.5}}),
            "GOOGLE_API_KEY": "fake-gemini-key",
        }
        t0 = time.monotonic()
        workers = [
            subprocess.Popen([sys.executable, "-c", _WORKER, "6"], env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        errors = [w.communicate(timeout=120)[1] for w in workers]
        wall = time.monotonic() - t0
    assert [w.returncode for w in workers] == [0, 0], errors
    stats = fake.stats()
    assert stats["answered"] == 12 and stats["sent_429"] == 0  # together, never over the limit
    assert wall >= 4.0  # 12 requests at 4 per 2 s need two waits


def test_status_and_the_report_show_each_providers_pacing_beside_its_breaker(tmp_path):
    from task_orchestrator.report import collect, render

    with FakeGemini([{"rate_limit": 0.3}, "one", "two"]) as fake:
        s = _settings(tmp_path, gemini_base_url=fake.url)
        ctx, router = _router(s)
        router.invoke("q1", task_id="t1")
        router.invoke("q2", task_id="t2")
        ctx.close()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "TASK_ORCHESTRATOR_DATA_DIR": str(s.data_dir),
        "TASK_ORCHESTRATOR_PROVIDERS": '["gemini"]',
        "COLUMNS": "80",
    }
    cli = [sys.executable, "-m", "task_orchestrator.cli", "status"]
    st = json.loads(
        subprocess.run([*cli, "--json"], capture_output=True, text=True, env=env, timeout=120).stdout
    )
    pacing = st["pacing"][0]
    assert (pacing["provider"], pacing["model"], pacing["rpm"], pacing["rpd"]) == ("gemini", FLASH, 10, 250)
    assert pacing["used_today"] == 3  # the refused request counts: the provider saw it
    assert st["breakers"][0]["state"] == "closed"
    text = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120).stdout
    assert "pacing" in text and "3 of 250" in text and max(len(x) for x in text.splitlines()) <= 80
    page = render(collect(s))
    assert 'id="pacing"' in page and "rate limit (429)" in page and "3 of 250" in page


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_a_day_of_faults_through_the_real_client(provider, tmp_path):
    """Over the limit (429 with the provider's delay), then the day's quota, then (a day later)
    a 503 and a malformed body: only the last two are faults, and they open the breaker."""
    fake_cls, model = (FakeGemini, FLASH) if provider == "gemini" else (FakeOpenAI, "gpt-5-mini")
    with fake_cls([], rpm=2, window_s=1.0) as fake:
        s = _settings(
            tmp_path,
            providers=[provider],
            breaker_failure_threshold=2,
            rate_limits={model: RateLimit(rpm=4, window_s=1.0)},  # too high: the first 429 teaches 2
            **{f"{provider}_base_url": fake.url},
        )
        ctx, router = _router(s)
        answers = [router.invoke(f"q{i}", task_id=f"t{i}").provider for i in range(5)]
        assert answers == [provider] * 5
        assert fake.stats()["sent_429"] == 1 and fake.stats()["over_limit_after_first_429"] == 0
        fake.replies[:] = [{"quota": "daily"}, {"status": 503}, {"malformed": True}]
        with pytest.raises(QuotaExhausted, match=f"{provider} quota exhausted until"):
            router.invoke("q-quota", task_id="t-quota")
        with pytest.raises(QuotaExhausted):  # held: not asked again
            router.invoke("q-held", task_id="t-held")
        assert router.breakers.status(provider).failures == 0
        real = router.pacer.clock
        router.pacer.clock = lambda: real() + 86400 + 3600  # the quota has reset
        for i in range(2):
            with pytest.raises(ProviderCallFailed):
                router.invoke(f"q-fault-{i}", task_id=f"t-fault-{i}")
        status = router.breakers.status(provider)
        ctx.close()
    assert status.state == "open" and status.failures == 2
    assert fake.stats()["requests"] == 5 + 1 + 1 + 2  # five answers, one 429, the quota, two faults
