"""One settings object, read once at start-up.

Every value can be set through an environment variable with the prefix
``TASK_ORCHESTRATOR_`` (for example ``TASK_ORCHESTRATOR_DATA_DIR``) or a ``.env``
file in the working directory. Provider keys are also read from their
conventional names (``GOOGLE_API_KEY``, ``OPENAI_API_KEY``). Nodes never read the
environment: they get this object through the LangGraph runtime context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from task_orchestrator.literals import RiskLevel

__all__ = ["FREE_TIER_LIMITS", "ModelPrice", "ProviderName", "RateLimit", "RiskLevel", "Settings"]

ProviderName = Literal["gemini", "openai"]
from task_orchestrator.risk.text import RISK_ORDER  # noqa: E402


class ModelPrice(BaseModel):
    """USD per 1M tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


class RateLimit(BaseModel):
    """A provider's request limits for one model: per minute (or per ``window_s``) and per day.
    Days are counted the way Google counts them: they end at midnight Pacific time."""

    rpm: int | None = Field(default=None, ge=1, description="requests per window (a minute by default)")
    rpd: int | None = Field(default=None, ge=1, description="requests per day")
    window_s: float = Field(default=60.0, gt=0, description="the window rpm counts over")


#: Google's published free-tier limits (Gemini API, 2025) for the models a free key can call.
#: A project with billing has far higher ones: set ``TASK_ORCHESTRATOR_RATE_LIMITS`` to yours
#: (AI Studio shows them), or ``{}`` to pace nothing.
FREE_TIER_LIMITS: dict[str, RateLimit] = {
    "gemini-2.5-flash": RateLimit(rpm=10, rpd=250),
    "gemini-2.5-flash-lite": RateLimit(rpm=15, rpd=1000),
    "gemini-2.5-pro": RateLimit(rpm=5, rpd=100),
    "gemini-2.0-flash": RateLimit(rpm=15, rpd=200),
    "gemini-2.0-flash-lite": RateLimit(rpm=30, rpd=200),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TASK_ORCHESTRATOR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- storage -----------------------------------------------------------------
    data_dir: Path = Field(
        default=Path("~/.task-orchestrator"),
        description="Where checkpoints, the failure memory, the ledger and breaker state live.",
    )
    workspace: Path | None = Field(
        default=None, description="Project root that verifiers check paths against (default: cwd)."
    )
    project: str = Field(default="default", description="Name recorded with each failure.")
    chroma_url: str | None = Field(
        default=None, description="Use a Chroma server (http://host:port) instead of the embedded store."
    )
    postgres_url: SecretStr | None = Field(
        default=None,
        description="postgresql://... : checkpoints, approvals, the exact-hash failure table, the "
        "ledger and breaker state in this database (schema task_orchestrator), shared "
        "by every server that points at it. Needs the `postgres` extra.",
    )

    # --- providers -------------------------------------------------------------------
    providers: list[ProviderName] = Field(default_factory=lambda: list[ProviderName](["gemini", "openai"]))
    gemini_model: str = "gemini-2.5-flash"
    openai_model: str = "gpt-5-mini"
    google_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TASK_ORCHESTRATOR_GOOGLE_API_KEY", "GOOGLE_API_KEY"),
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TASK_ORCHESTRATOR_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    request_timeout_s: float = Field(default=60.0, gt=0)
    gemini_base_url: str | None = Field(
        default=None, description="Another Gemini API endpoint (a proxy, a gateway, a local fake)."
    )
    openai_base_url: str | None = Field(
        default=None, description="Another OpenAI-compatible endpoint (a proxy, a gateway, a local fake)."
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: dict(FREE_TIER_LIMITS),
        description="Per model name (or provider name): requests per minute and per day, paced "
        "before each call across every process sharing the data directory.",
    )
    rate_limit_max_wait_s: float = Field(
        default=120.0,
        ge=0,
        description="The longest one call waits for its provider's rate limit (a paced slot or a "
        "429's retry delay) before it falls back to the next provider or fails.",
    )
    max_output_tokens: int = Field(default=2048, ge=1)

    # --- cost --------------------------------------------------------------------------
    task_budget_usd: float | None = Field(default=1.0, ge=0, description="None disables.")
    daily_budget_usd: float | None = Field(default=20.0, ge=0, description="None disables.")
    allow_unpriced_models: bool = Field(
        default=False,
        description="Allow calls to models missing from the price table while a budget is set.",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="Overrides/additions to the built-in price table."
    )

    # --- circuit breaker -----------------------------------------------------------
    breaker_failure_threshold: int = Field(default=3, ge=1)
    breaker_reset_timeout_s: float = Field(default=30.0, gt=0)

    # --- guard / approval ------------------------------------------------------------
    approval_policy: Literal["on_risk", "always"] = "on_risk"
    ask_at_risk: RiskLevel = "high"
    deny_at_risk: RiskLevel = "critical"
    # Hub-corrected distances (memory/similarity.py) in the default embedder's space (MiniLM +
    # paraphrase transform), calibrated on ../shared/eval (benchmarks/eval_memory.py): for
    # commands 0.37 is the 1% false-block point and 0.47 the 5% point (task texts: 0.40 / 0.50).
    # A similar past failure is advice, never a denial (memory/_decide.py): within this distance
    # its lesson goes to the model as context. Other embedders (openai, gemini, hashing) have
    # other scales: set it for them.
    similarity_advice_distance: float = Field(
        default=0.37,
        ge=0,
        le=3,
        description="Past failures at most this far from an action are shown with it as advice.",
    )

    # --- verification / reflection -----------------------------------------------
    verifiers: list[str] = Field(
        default_factory=lambda: ["non_empty", "schema", "paths", "test_claims", "code", "completeness"]
    )
    test_command: str | None = Field(
        default=None, description="Run to back a 'tests pass' claim when no output is given."
    )
    test_timeout_s: float = Field(default=300.0, gt=0)
    judge_rubric: str | None = Field(default=None, description="Rubric for the llm_judge verifier.")
    max_attempts: int = Field(default=3, ge=1, le=20)
    reflection: Literal["template", "llm"] = "template"

    # --- failure memory --------------------------------------------------------------
    embedder: Literal["minilm", "hashing", "openai", "gemini"] = "minilm"
    memory_cap: int = Field(default=50_000, ge=100, description="Most failures kept.")
    memory_max_age_days: float | None = Field(
        default=180, gt=0, description="Forget failures not seen for this long (None: never)."
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if RISK_ORDER[self.ask_at_risk] > RISK_ORDER[self.deny_at_risk]:
            raise ValueError(
                f"ask_at_risk={self.ask_at_risk!r} is above deny_at_risk={self.deny_at_risk!r}: "
                "set TASK_ORCHESTRATOR_ASK_AT_RISK to a level at or below the deny level"
            )
        if not self.providers:
            raise ValueError("providers must name at least one of: gemini, openai")
        if len(set(self.providers)) != len(self.providers):
            raise ValueError(f"providers lists a provider twice: {self.providers}")
        self.data_dir = self.data_dir.expanduser()
        return self

    @property
    def workspace_dir(self) -> Path:
        return (self.workspace or Path.cwd()).expanduser().resolve()

    def model_for(self, provider: ProviderName) -> str:
        return self.gemini_model if provider == "gemini" else self.openai_model

    def rate_limit_for(self, provider: str, model: str) -> RateLimit | None:
        """The limits paced for ``model`` of ``provider`` (by model name, then provider name)."""
        return self.rate_limits.get(model) or self.rate_limits.get(provider)

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir
