"""Chat models behind circuit breakers, budgets and the cost ledger, with fallback.

Real providers are imported lazily (each costs ~1 s to import). Tests flip
``ALLOW_REAL_PROVIDERS`` off so nothing can reach a real API by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from task_orchestrator.breaker import CircuitBreakers
from task_orchestrator.cost import CostLedger, usage_from_message
from task_orchestrator.errors import (
    AllProvidersUnavailable,
    ConfigurationError,
    NoProviderConfigured,
    ProviderCallFailed,
    QuotaExhausted,
    RateLimited,
    TaskOrchestratorError,
)
from task_orchestrator.pacing import Fault, Pacer, classify, describe
from task_orchestrator.settings import ProviderName, Settings

__all__ = ["ALLOW_REAL_PROVIDERS", "ModelCall", "ModelRouter", "make_chat_model"]

#: Switched off by the test suite's conftest: constructing a real provider then raises.
ALLOW_REAL_PROVIDERS = True


def make_chat_model(provider: ProviderName, settings: Settings) -> BaseChatModel:
    """Construct the real chat model for ``provider`` (raises NoProviderConfigured without a key)."""
    key = settings.google_api_key if provider == "gemini" else settings.openai_api_key
    if key is None:
        raise NoProviderConfigured([provider])
    if not ALLOW_REAL_PROVIDERS:
        raise RuntimeError(
            f"constructing the real {provider!r} provider is disabled (test mode); "
            "pass scripted chat models instead"
        )
    model = settings.model_for(provider)
    if provider == "gemini":
        from langchain_google_genai import ChatGoogleGenerativeAI

        # max_retries=1 is the initial request only: a 429 goes back to the router, which
        # honours its retry delay through the pacer (the SDK's own retries ignore it).
        return ChatGoogleGenerativeAI(
            model=model,
            google_api_key=settings.google_api_key,
            timeout=settings.request_timeout_s,
            max_retries=1,
            max_output_tokens=settings.max_output_tokens,
            **_base_url(settings.gemini_base_url),
        )
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        # No SDK retries: every request goes through the pacer, and the router honours a
        # 429's Retry-After itself.
        return ChatOpenAI(
            model=model,
            api_key=settings.openai_api_key,
            timeout=settings.request_timeout_s,
            max_retries=0,
            max_completion_tokens=settings.max_output_tokens,
            **_base_url(settings.openai_base_url),
        )
    raise ConfigurationError(f"unknown provider {provider!r}; expected 'gemini' or 'openai'")


def _base_url(url: str | None) -> dict[str, Any]:
    """``base_url`` only when set: unset, each SDK keeps its own default and environment
    variable (``OPENAI_BASE_URL``)."""
    return {"base_url": url} if url else {}


@dataclass
class ModelCall:
    message: AIMessage
    parsed: Any
    provider: str
    model: str
    cost_usd: float | None
    fallbacks: list[str]


def _model_name(model: BaseChatModel, provider: str, settings: Settings) -> str:
    for attr in ("model_name", "model"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return settings.model_for(provider)  # type: ignore[arg-type]


def _prompt_text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


class _ProviderFault(Exception):
    """A provider call failed for a reason its breaker counts (``pacing.classify`` said so)."""

    def __init__(self, fault: Fault, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.fault, self.exc = fault, exc


#: A 429 that gives no retry delay is retried after this many seconds (doubling each time).
_DEFAULT_RETRY_S = 2.0
#: 429s in a row from one provider, within one call, before the router moves on.
_MAX_RATE_RETRIES = 6


class ModelRouter:
    """Calls the first provider whose breaker is closed; falls back to the next on failure.

    Every request is paced first (``pacing.Pacer``: the provider's requests per minute and per
    day, across processes). A 429 is a rate limit, not a fault: its retry delay is honoured (every
    process waits) and the same provider is asked again, within ``rate_limit_max_wait_s``. A
    used-up daily quota moves on to the next provider, or ends the call with ``QuotaExhausted``
    and its reset time. Only real faults (5xx, timeouts, malformed answers, refused keys) count
    towards a breaker.
    """

    def __init__(
        self,
        settings: Settings,
        breakers: CircuitBreakers,
        ledger: CostLedger,
        models: dict[str, BaseChatModel] | None = None,
        pacer: Pacer | None = None,
        sleep: Any = None,
    ) -> None:
        import time

        self.settings = settings
        self.breakers = breakers
        self.ledger = ledger
        self.pacer = pacer if pacer is not None else Pacer.for_settings(settings)
        self.sleep = sleep or time.sleep
        self._models: dict[str, BaseChatModel] = dict(models or {})
        self._missing: set[str] = set()

    # -- provider selection ---------------------------------------------------------
    def _model(self, provider: str) -> BaseChatModel | None:
        if provider in self._models:
            return self._models[provider]
        if provider in self._missing:
            return None
        try:
            self._models[provider] = make_chat_model(provider, self.settings)  # type: ignore[arg-type]
        except NoProviderConfigured:
            self._missing.add(provider)
            return None
        return self._models[provider]

    def configured(self) -> list[str]:
        """Providers (in order) that have a model: injected, or a key to build one."""
        return [p for p in self.settings.providers if self._model(p) is not None]

    def ready(self) -> list[str]:
        """Configured providers whose breaker is not open and whose quota is not used up (no
        probe is claimed)."""
        out = []
        for p in self.configured():
            st = self.breakers.status(p)
            if st.state == "closed" or st.retry_in_s == 0.0 or st.state == "half_open":
                if self._quota_hold(p) is None:
                    out.append(p)
        return out

    def _quota_hold(self, provider: str) -> float | None:
        return self.pacer.blocked_until(
            provider, _model_name(self._models[provider], provider, self.settings)
        )

    def preflight(self) -> None:
        """Fail fast, with no call made, when no provider could be used."""
        configured = self.configured()
        if not configured:
            raise NoProviderConfigured(list(self.settings.providers))
        if not self.ready():
            held = {p: self._quota_hold(p) for p in configured}
            if all(until is not None for until in held.values()):
                raise self._quota_message([(p, until) for p, until in held.items() if until is not None])
            raise AllProvidersUnavailable(self._unavailable_message(configured))

    def _quota_message(self, held: list[tuple[str, float]]) -> QuotaExhausted:
        from task_orchestrator.pacing import when

        parts = "; ".join(f"{p} until {when(until)}" for p, until in held)
        first = min(until for _, until in held)
        return QuotaExhausted(
            f"quota exhausted: {parts}. No call was made and no circuit breaker opened; configure "
            "another provider to fall back to (TASK_ORCHESTRATOR_PROVIDERS), or run the task after "
            "the reset.",
            provider=held[0][0],
            until=first,
        )

    def _unavailable_message(self, providers: list[str]) -> str:
        parts = []
        for p in providers:
            st = self.breakers.status(p)
            retry = f", retry in {st.retry_in_s:.0f}s" if st.retry_in_s is not None else ""
            parts.append(f"{p}: {st.state} after {st.failures} failures ({st.last_error}{retry})")
        return "all providers' circuit breakers are open; no call was made. " + "; ".join(parts)

    # -- calls --------------------------------------------------------------------------
    def _prepare(self, messages):
        if isinstance(messages, str):
            messages = [HumanMessage(messages)]
        return list(messages), _prompt_text(list(messages))

    def _runnable(self, model: BaseChatModel, schema: type[BaseModel] | None):
        return model.with_structured_output(schema, include_raw=True) if schema else model

    def _finish(self, provider, model_obj, result, task_id, fallbacks) -> ModelCall:
        if isinstance(result, dict):  # with_structured_output(include_raw=True)
            message, parsed = result["raw"], result.get("parsed")
            if result.get("parsing_error") is not None:
                parsed = None
        else:
            message, parsed = result, None
        name = _model_name(model_obj, provider, self.settings)
        cost = self.ledger.record(task_id, provider, name, usage_from_message(message))
        self.breakers.record_success(provider)
        cost = round(cost, 8) if cost is not None else None
        return ModelCall(message, parsed, provider, name, cost, fallbacks)

    def _attempts(self, task_id: str, prompt: str):
        configured = self.configured()
        if not configured:
            raise NoProviderConfigured(list(self.settings.providers))
        for provider in configured:
            model_obj = self._models[provider]
            if not self.breakers.allow(provider):
                continue
            # Budget is checked before every call; exceeding it is not a provider fault.
            self.ledger.check_budget(task_id, _model_name(model_obj, provider, self.settings), prompt)
            yield provider, model_obj

    def invoke(self, messages, *, task_id: str, schema: type[BaseModel] | None = None) -> ModelCall:
        messages, prompt = self._prepare(messages)
        fallbacks: list[str] = []
        limited: list[QuotaExhausted | RateLimited] = []
        tried = False
        for provider, model_obj in self._attempts(task_id, prompt):
            tried = True
            try:
                result = self._call(provider, model_obj, schema, messages)
            except (QuotaExhausted, RateLimited) as exc:  # not a fault: the next provider
                self.breakers.release(provider)  # a probe it claimed made no call
                limited.append(exc)
                fallbacks.append(f"{provider}: {exc}"[:300])
                continue
            except _ProviderFault as fault:  # a real fault: count it for the breaker, try the next
                error = f"{describe(fault.exc)} ({fault.fault.kind})"
                self.breakers.record_failure(provider, error)
                fallbacks.append(f"{provider}: {error}"[:300])
                continue
            return self._finish(provider, model_obj, result, task_id, fallbacks)
        return self._give_up(tried, fallbacks, limited)

    def _call(self, provider: str, model_obj: BaseChatModel, schema, messages):
        """One provider's answer: paced, a 429 waited out and asked again (within the wait
        budget), a daily quota turned into ``QuotaExhausted``; faults are raised as they come."""
        name = _model_name(model_obj, provider, self.settings)
        budget = self.settings.rate_limit_max_wait_s
        backoff = _DEFAULT_RETRY_S
        for _ in range(_MAX_RATE_RETRIES):
            slot, waited = self.pacer.acquire(provider, name, budget, self.sleep)
            budget = max(0.0, budget - waited)
            try:
                return self._send(slot, model_obj, schema, messages)
            except TaskOrchestratorError:
                raise
            except Exception as exc:
                fault = classify(exc)
                if fault.kind == "quota":
                    # a day's quota ends at the next midnight Pacific, unless the answer names a
                    # longer wait (OpenAI's per-day limits) or the quota is the account's
                    until = None
                    hint = fault.retry_after_s
                    if hint is not None and (fault.billing or hint > self.settings.rate_limit_max_wait_s):
                        until = self.pacer.clock() + hint
                    raise self.pacer.quota_exhausted(provider, name, until, fault.detail) from exc
                if fault.kind != "rate_limit":
                    raise _ProviderFault(fault, exc) from exc
                delay = fault.retry_after_s if fault.retry_after_s is not None else backoff
                backoff = min(backoff * 2, 60.0)
                reason = f"429 from {provider}: retry in {delay:.1f} s"
                self.pacer.rate_limited(provider, name, delay, reason, learn=fault.requests_per_minute)
        raise RateLimited(
            f"{provider} ({name}) answered 429 (rate limited) {_MAX_RATE_RETRIES} times in a row; "
            "no circuit breaker opened. Lower TASK_ORCHESTRATOR_RATE_LIMITS for it to pace below "
            "what it allows."
        )

    def _send(self, slot, model_obj: BaseChatModel, schema, messages):
        try:
            return self._runnable(model_obj, schema).invoke(messages)
        finally:
            self.pacer.sent(slot)

    def _give_up(
        self, tried: bool, fallbacks: list[str], limited: list[QuotaExhausted | RateLimited] | None = None
    ):
        if not tried:
            raise AllProvidersUnavailable(self._unavailable_message(self.configured()))
        if limited and len(limited) == len(fallbacks):  # no fault: every provider was limited
            quotas = [e for e in limited if isinstance(e, QuotaExhausted)]
            if len(quotas) == len(limited) == 1:
                raise quotas[0]
            if len(quotas) == len(limited):
                raise self._quota_message([(e.provider, e.until or 0.0) for e in quotas])
            raise RateLimited(" | ".join(str(e) for e in limited))
        raise ProviderCallFailed("every available provider failed: " + " | ".join(fallbacks))
