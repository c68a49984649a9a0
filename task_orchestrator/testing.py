"""A scripted chat model: drives whole runs offline (tests, the demo, notebooks).

Each call consumes the next script entry: a string (the reply), an ``AIMessage``
(tool calls included), or an exception instance (raised, as a provider fault).
"""

from __future__ import annotations

import json
import os
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, Field

from task_orchestrator.cost import estimate_tokens

__all__ = ["SCRIPTED_PRICES", "ScriptExhausted", "ScriptedChatModel", "offline_models"]


#: A price for the scripted model, so budgets and the cost table work offline too.
SCRIPTED_PRICES = {"scripted-model": {"input": 0.30, "output": 2.50}}  # USD per 1M tokens


def offline_models(script: list[Any], *, env: dict[str, str] | None = None) -> dict | None:
    """``{"gemini": ScriptedChatModel(script)}`` offline; ``None`` (the real providers) as soon
    as ``GOOGLE_API_KEY`` or ``OPENAI_API_KEY`` is set. For notebooks and examples."""
    keys = os.environ if env is None else env
    if keys.get("GOOGLE_API_KEY") or keys.get("OPENAI_API_KEY"):
        return None
    return {"gemini": ScriptedChatModel(script=list(script))}


class ScriptExhausted(AssertionError):
    """The model was called more times than its script has entries."""


class ScriptedChatModel(BaseChatModel):
    script: list[Any] = Field(default_factory=list)
    model_name: str = "scripted-model"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    cycle: bool = False
    #: Instead of a fixed script: called with the messages, returns an entry as above.
    responder: Any = None

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        index = len(self.calls)
        self.calls.append(list(messages))
        if self.responder is not None:
            return self._reply(self.responder(messages), messages)
        if index >= len(self.script) and not (self.cycle and self.script):
            raise ScriptExhausted(
                f"{self.model_name}: call {index + 1} but only {len(self.script)} scripted replies"
            )
        return self._reply(self.script[index % len(self.script)], messages)

    def _reply(self, entry: Any, messages: list[BaseMessage]) -> ChatResult:
        if isinstance(entry, BaseException):
            raise entry
        msg = entry if isinstance(entry, AIMessage) else AIMessage(content=str(entry))
        if msg.usage_metadata is None:
            prompt = "\n".join(str(m.content) for m in messages)
            inp, out = estimate_tokens(prompt), estimate_tokens(str(msg.content))
            msg = msg.model_copy(
                update={
                    "usage_metadata": {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}
                }
            )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self  # tool calls come from the script as AIMessage(tool_calls=...)

    def with_structured_output(self, schema: Any, *, include_raw: bool = False, **kwargs: Any):
        def parse(messages: Any) -> Any:
            raw = self.invoke(messages)
            parsed, error = None, None
            try:
                if raw.tool_calls:
                    data = raw.tool_calls[0]["args"]
                else:
                    data = json.loads(str(raw.content))
                parsed = (
                    schema.model_validate(data)
                    if isinstance(schema, type) and issubclass(schema, BaseModel)
                    else data
                )
            except Exception as exc:
                error = exc
                if not include_raw:
                    raise
            return {"raw": raw, "parsed": parsed, "parsing_error": error} if include_raw else parsed

        return RunnableLambda(parse)
