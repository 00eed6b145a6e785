"""Gemini's streaming generateContent endpoint, as the google-genai client calls it.

POST /v1beta/models/{model}:streamGenerateContent?alt=sse answers with server-sent
events, one GenerateContentResponse JSON per `data:` line. Each request takes the next
scripted reply (a list of parts: text and function calls, one part per chunk), or the
reply a stand-in model makes from the request's body; every request body is kept so a
test can read the system instruction and contents it carried.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.response import Stream


def text(words: str) -> dict[str, Any]:
    return {"text": words}


def function_call(name: str, **args: Any) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": args}}


Parts = list[dict[str, Any]]
# A stand-in model: the parts it answers a request's body with.
Model = Callable[[dict[str, Any]], Parts]


@dataclass
class FakeGemini:
    replies: list[Parts] | Model
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)
    # generateContent (not streamed): the after-call summary; each answer is its JSON text,
    # or an HTTP status code to fail with.
    summaries: list[str | int] = field(default_factory=list)
    summary_requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Litestar:
        @post("/v1beta/models/{call:str}", status_code=200)
        async def stream_generate_content(call: str, request: Request[Any, Any, Any]) -> Any:
            model, _, method = call.partition(":")
            if method == "generateContent":
                return await self._summary(model, request)
            if method != "streamGenerateContent" or request.query_params.get("alt") != "sse":
                raise NotFoundException(detail=f"unsupported method {call}")
            self.paths.append(call)
            self.api_keys.append(request.headers.get("x-goog-api-key", ""))
            body = json.loads(await request.body())
            self.requests.append(body)
            if callable(self.replies):
                parts = self.replies(body)
            else:
                parts = self.replies[len(self.requests) - 1] if self.replies else []
            return Stream(_events(model, parts), media_type="text/event-stream")

        return Litestar([stream_generate_content])

    async def _summary(self, model: str, request: Request[Any, Any, Any]) -> Any:
        self.summary_requests.append(json.loads(await request.body()))
        answer = self.summaries[len(self.summary_requests) - 1]
        if isinstance(answer, int):
            return Response(
                {"error": {"code": answer, "message": "unavailable"}}, status_code=answer
            )
        candidate = {"content": {"role": "model", "parts": [text(answer)]}, "finishReason": "STOP"}
        return Response({"candidates": [candidate], "modelVersion": model})

    def system_instruction(self, index: int) -> str:
        return system_instruction_of(self.requests[index])

    def function_responses(self, index: int) -> list[dict[str, Any]]:
        """The tool results a request carried back to the model, oldest first."""
        return function_responses(self.requests[index])

    def contents_text(self, index: int) -> str:
        return " ".join(
            json.dumps(part)
            for content in self.requests[index]["contents"]
            for part in content["parts"]
        )


def system_instruction_of(body: dict[str, Any]) -> str:
    instruction = body.get("systemInstruction", {})
    return " ".join(part.get("text", "") for part in instruction.get("parts", []))


def function_responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part["functionResponse"]
        for content in body["contents"]
        for part in content["parts"]
        if "functionResponse" in part
    ]


async def _events(model: str, parts: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
        if last:
            chunk["usageMetadata"] = {
                "promptTokenCount": 100,
                "candidatesTokenCount": 20,
                "totalTokenCount": 120,
            }
        yield f"data: {json.dumps(chunk)}\r\n\r\n".encode()
