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
    TaskOrchestratorError,
)
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

        return ChatGoogleGenerativeAI(
            model=model,
            google_api_key=settings.google_api_key,
            timeout=settings.request_timeout_s,
            max_retries=1,
            max_output_tokens=settings.max_output_tokens,
        )
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=model,
            api_key=settings.openai_api_key,
            timeout=settings.request_timeout_s,
            max_retries=1,
            max_completion_tokens=settings.max_output_tokens,
        )
    raise ConfigurationError(f"unknown provider {provider!r}; expected 'gemini' or 'openai'")


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


class ModelRouter:
    """Calls the first provider whose breaker is closed; falls back to the next on failure."""

    def __init__(
        self,
        settings: Settings,
        breakers: CircuitBreakers,
        ledger: CostLedger,
        models: dict[str, BaseChatModel] | None = None,
    ) -> None:
        self.settings = settings
        self.breakers = breakers
        self.ledger = ledger
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
        """Configured providers whose breaker is not open (no probe is claimed)."""
        out = []
        for p in self.configured():
            st = self.breakers.status(p)
            if st.state == "closed" or st.retry_in_s == 0.0 or st.state == "half_open":
                out.append(p)
        return out

    def preflight(self) -> None:
        """Fail fast, with no call made, when no provider could be used."""
        configured = self.configured()
        if not configured:
            raise NoProviderConfigured(list(self.settings.providers))
        if not self.ready():
            raise AllProvidersUnavailable(self._unavailable_message(configured))

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
        tried = False
        for provider, model_obj in self._attempts(task_id, prompt):
            tried = True
            try:
                result = self._runnable(model_obj, schema).invoke(messages)
            except TaskOrchestratorError:
                raise
            except Exception as exc:  # a provider fault: open the breaker, try the next
                self._provider_failed(provider, exc, fallbacks)
                continue
            return self._finish(provider, model_obj, result, task_id, fallbacks)
        return self._give_up(tried, fallbacks)

    def _provider_failed(self, provider: str, exc: Exception, fallbacks: list[str]) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.breakers.record_failure(provider, error)
        fallbacks.append(f"{provider}: {error}"[:300])

    def _give_up(self, tried: bool, fallbacks: list[str]):
        if not tried:
            raise AllProvidersUnavailable(self._unavailable_message(self.configured()))
        raise ProviderCallFailed("every available provider failed: " + " | ".join(fallbacks))
