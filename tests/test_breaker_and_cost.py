"""Circuit breakers with fallback, budgets, prices and settings."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from task_orchestrator import Settings, build_guarded_graph, open_context
from task_orchestrator.breaker import CircuitBreakers
from task_orchestrator.cost import CostLedger, Usage, price_for, usage_from_message
from task_orchestrator.errors import AllProvidersUnavailable, BudgetExceeded, ConfigurationError
from task_orchestrator.providers import make_chat_model
from task_orchestrator.testing import ScriptedChatModel


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_half_opens_and_closes(tmp_path):
    clock = Clock()
    b = CircuitBreakers(tmp_path / "b.sqlite", failure_threshold=2, reset_timeout_s=30, clock=clock)
    assert b.allow("gemini")
    assert b.record_failure("gemini", "429 Too Many Requests") == "closed"
    assert b.record_failure("gemini", "429 Too Many Requests") == "open"
    assert not b.allow("gemini")
    clock.now += 29
    assert not b.allow("gemini")
    clock.now += 2
    assert b.allow("gemini")  # the half-open probe
    assert b.status("gemini").state == "half_open"
    assert not b.allow("gemini")  # only one probe at a time
    b.record_failure("gemini", "500")  # probe failed: open again, timer restarts
    assert b.status("gemini").state == "open"
    assert not b.allow("gemini")
    clock.now += 31
    assert b.allow("gemini")
    b.record_success("gemini")
    assert b.status("gemini").state == "closed"
    assert b.allow("gemini")
    transitions = [e["transition"] for e in reversed(b.events())]
    assert transitions == [
        "closed->open",
        "open->half_open",
        "half_open->open",
        "open->half_open",
        "half_open->closed",
    ]


def test_breaker_state_survives_a_restart(tmp_path):
    clock = Clock()
    b = CircuitBreakers(tmp_path / "b.sqlite", failure_threshold=1, reset_timeout_s=60, clock=clock)
    b.record_failure("openai", "timeout")
    b.close()
    again = CircuitBreakers(tmp_path / "b.sqlite", failure_threshold=1, reset_timeout_s=60, clock=clock)
    assert again.status("openai").state == "open"
    assert not again.allow("openai")


def test_graph_falls_back_then_fails_fast_when_all_open(settings, memory):
    settings.breaker_failure_threshold = 1
    gemini = ScriptedChatModel(script=[TimeoutError("deadline exceeded")], model_name="gemini-2.5-flash")
    openai = ScriptedChatModel(script=["from openai", "second"], model_name="gpt-5-mini")
    ctx = open_context(settings, models={"gemini": gemini, "openai": openai}, memory=memory)
    graph = build_guarded_graph().compile(checkpointer=InMemorySaver())
    r = graph.invoke({"task": "hello"}, {"configurable": {"thread_id": "1"}}, context=ctx)
    assert r["status"] == "succeeded"
    assert r["output"] == "from openai"
    work = next(e for e in r["trace"] if e["node"] == "work")
    assert work["provider"] == "openai"
    assert "gemini: TimeoutError" in work["fallbacks"][0]
    assert ctx.router.breakers.status("gemini").state == "open"
    # gemini is open now: the next task goes straight to openai without calling gemini.
    r = graph.invoke({"task": "again"}, {"configurable": {"thread_id": "2"}}, context=ctx)
    assert r["output"] == "second"
    assert len(gemini.calls) == 1
    # Both open: fail fast with a clear error and no call at all.
    ctx.router.breakers.record_failure("openai", "HTTP 500")
    r = graph.invoke({"task": "third"}, {"configurable": {"thread_id": "3"}}, context=ctx)
    assert r["status"] == "error"
    assert "circuit breakers are open" in r["error"]
    assert "retry in" in r["error"]
    assert len(gemini.calls) == 1
    assert len(openai.calls) == 2


def test_router_heals_through_the_half_open_probe(settings):
    clock = Clock()
    settings.breaker_failure_threshold = 1
    ctx = open_context(
        settings,
        models={
            "gemini": ScriptedChatModel(
                script=[ConnectionError("reset"), "healed"], model_name="gemini-2.5-flash"
            )
        },
    )
    ctx.router.breakers.clock = clock
    with pytest.raises(Exception, match="every available provider failed"):
        ctx.router.invoke("hi", task_id="t")
    with pytest.raises(AllProvidersUnavailable):
        ctx.router.invoke("hi", task_id="t")
    clock.now += settings.breaker_reset_timeout_s + 1
    call = ctx.router.invoke("hi", task_id="t")
    assert call.message.content == "healed"
    assert ctx.router.breakers.status("gemini").state == "closed"


def test_usage_and_cost_include_cached_and_reasoning_tokens(settings):
    msg = AIMessage(
        content="x",
        usage_metadata={
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "input_token_details": {"cache_read": 400},
            "output_token_details": {"reasoning": 300},
        },
    )
    u = usage_from_message(msg)
    assert u == Usage(input_tokens=1000, output_tokens=500, cached_tokens=400, reasoning_tokens=300)
    price = price_for("gpt-5-mini", settings)
    # 600 uncached * 0.25 + 400 cached * 0.025 + 500 out * 2.0, per 1M tokens
    assert u.cost(price) == pytest.approx((600 * 0.25 + 400 * 0.025 + 500 * 2.0) / 1e6)
    assert price_for("gpt-4.1-2025-04-14", settings) == price_for("gpt-4.1", settings)
    assert price_for("some-new-model", settings) is None
    assert Usage(input_tokens=10).cost(None) is None


def test_daily_budget_counts_every_task(settings):
    settings.task_budget_usd = None
    settings.daily_budget_usd = 0.01
    ledger = CostLedger(settings.ensure_data_dir() / "ledger.sqlite", settings)
    ledger.record("a", "openai", "gpt-5-mini", Usage(input_tokens=10_000, output_tokens=4_000))
    assert ledger.spent(task_id="a") == pytest.approx(0.0105)
    with pytest.raises(BudgetExceeded, match="daily budget"):
        ledger.check_budget("b", "gpt-5-mini", "small prompt")


def test_settings_from_env_and_validation(monkeypatch, tmp_path):
    monkeypatch.setenv("TASK_ORCHESTRATOR_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("TASK_ORCHESTRATOR_PROVIDERS", '["openai", "gemini"]')
    monkeypatch.setenv("TASK_ORCHESTRATOR_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-000000000000")
    s = Settings(_env_file=None)
    assert s.data_dir == tmp_path / "d"
    assert s.providers == ["openai", "gemini"]
    assert s.max_attempts == 5
    assert s.openai_api_key is not None
    assert "sk-test" not in repr(s)  # keys never show in logs
    with pytest.raises(ValueError, match="ask_at_risk"):
        Settings(ask_at_risk="critical", deny_at_risk="high", _env_file=None)
    with pytest.raises(ValueError, match="twice"):
        Settings(providers=["gemini", "gemini"], _env_file=None)


def test_real_providers_cannot_be_constructed_in_tests(monkeypatch):
    s = Settings(google_api_key="AIza" + "x" * 35, _env_file=None)
    with pytest.raises(RuntimeError, match="disabled"):
        make_chat_model("gemini", s)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        make_chat_model("openai", Settings(_env_file=None))
    # nor real embedders: a key in the environment never sends test data to an embedding API
    from task_orchestrator.memory.embeddings import make_embedder

    for kind, key in (
        ("openai", {"openai_api_key": "sk-" + "x" * 40}),
        ("gemini", {"google_api_key": "AIza" + "x" * 35}),
    ):
        with pytest.raises(RuntimeError, match="embedder is disabled"):
            make_embedder(Settings(embedder=kind, _env_file=None, **key))
