"""Calling the agent's tools as Pipecat's LLM service does, to see what the model gets back."""

from __future__ import annotations

from typing import Any

from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.services.llm_service import FunctionCallParams


async def call_tool(tools: ToolsSchema, name: str, arguments: dict[str, Any]) -> list[Any]:
    """Calls one tool; returns the results handed back to the model."""
    [tool] = [t for t in tools.standard_tools if t.name == name]
    results: list[Any] = []

    async def result_callback(result: Any, *, properties: Any = None) -> None:
        results.append(result)

    params = FunctionCallParams(
        function_name=name,
        tool_call_id="call_1",
        arguments=arguments,
        llm=None,  # type: ignore[arg-type]  # only opt_out and end_call push frames
        pipeline_worker=None,  # type: ignore[arg-type]
        context=None,  # type: ignore[arg-type]
        result_callback=result_callback,
    )
    assert tool.handler is not None
    await tool.handler(params)
    return results
