"""The scripted Anthropic Messages API lives in the package (task_orchestrator.fake_endpoints),
where the agent notebook uses it too."""

from task_orchestrator.fake_endpoints import FakeAnthropic

__all__ = ["FakeAnthropic"]
