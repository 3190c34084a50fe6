"""LangChain's ``ChatOpenAI`` as the client, on ``/v1/responses`` and on chat completions.

``use_responses_api=True`` is how LangChain users reach the Responses API; without it
``ChatOpenAI`` speaks chat completions. Both are driven through a real gateway against
the simulator, over an OpenAI-type model (``chat``) and an Anthropic one (``claude``).
The simulator answers a tool result with ``Simulated reply to tool result: <the result>``,
which is how these tests see what reached the model.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from headway.testing import GatewayThread
from tests.dialects.clients import MODELS, client_gateway
from tests.routing.simctl import unique

FRAGILE = unique("lc-fragile")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "21C"


class Weather(BaseModel):
    city: str
    celsius: int


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("langchain")
    models = {
        "fragile": {"deployments": [{"provider": "sim", "model": FRAGILE}], "retries": {"max_retries": 0}},
    }
    yield from client_gateway(sim.url, directory, models)


def chat_model(gw: GatewayThread, model: str, *, responses: bool = True, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=f"{gw.url}/v1",
        api_key="unused",
        use_responses_api=responses,
        max_retries=0,
        include_response_headers=True,
        **options,
    )


def joined(chunks: Sequence[BaseMessage]) -> AIMessageChunk:
    pieces = [chunk for chunk in chunks if isinstance(chunk, AIMessageChunk)]
    assert pieces and len(pieces) == len(chunks)
    return functools.reduce(operator.add, pieces)


def request_id(message: BaseMessage) -> str:
    return str(message.response_metadata["headers"]["x-request-id"])


# -- the Responses API (use_responses_api=True) -------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_invoke_is_a_response_recorded_with_its_cost(gw: GatewayThread, model: str) -> None:
    reply = chat_model(gw, model).invoke("Say hello")
    assert isinstance(reply, AIMessage) and reply.text.startswith("Simulated reply to: Say hello")
    assert (
        reply.response_metadata["id"].startswith("resp_") and reply.response_metadata["status"] == "completed"
    )
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0
    record = gw.record(request_id(reply))
    assert record.endpoint == "responses" and record.model == model and record.status_code == 200
    assert record.cost_usd is not None and record.cost_usd > 0
    assert record.output_tokens == reply.usage_metadata["output_tokens"]


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_joins_into_the_answer_with_its_usage(gw: GatewayThread, model: str) -> None:
    chunks = list(chat_model(gw, model).stream("Tell me a story"))
    assert len(chunks) > 3  # text arrives in pieces, not as one answer at the end
    message = joined(chunks)
    assert message.text.startswith("Simulated reply to: Tell me a story")
    assert (
        message.response_metadata["status"] == "completed" and message.id and message.id.startswith("resp_")
    )
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_bind_tools_then_the_tool_result_reaches_the_model(gw: GatewayThread, model: str) -> None:
    question = HumanMessage("What is the weather in Paris?")
    call = chat_model(gw, model).bind_tools([get_weather], tool_choice="required").invoke([question])
    assert isinstance(call, AIMessage) and len(call.tool_calls) == 1
    assert call.tool_calls[0]["name"] == "get_weather" and isinstance(call.tool_calls[0]["args"]["city"], str)
    result = get_weather.invoke(call.tool_calls[0])
    assert isinstance(result, ToolMessage)
    answer = chat_model(gw, model).bind_tools([get_weather]).invoke([question, call, result])
    assert answer.text.startswith("Simulated reply to tool result: 21C") and not answer.tool_calls


@pytest.mark.parametrize("model", MODELS)
def test_tool_message_content_blocks_reach_the_model_as_their_text(gw: GatewayThread, model: str) -> None:
    # LangChain sends a ToolMessage's content blocks as `output` parts, not as a string.
    question = HumanMessage("What is the weather in Oslo?")
    call = chat_model(gw, model).bind_tools([get_weather], tool_choice="required").invoke([question])
    assert isinstance(call, AIMessage)
    blocks: list[str | dict[Any, Any]] = [{"type": "text", "text": "minus 4 and snowing"}]
    result = ToolMessage(content=blocks, tool_call_id=call.tool_calls[0]["id"])
    answer = chat_model(gw, model).bind_tools([get_weather]).invoke([question, call, result])
    assert answer.text.startswith("Simulated reply to tool result: minus 4 and snowing")


@pytest.mark.parametrize("model", MODELS)
def test_tool_calls_stream_and_join_into_one_call(gw: GatewayThread, model: str) -> None:
    bound = chat_model(gw, model).bind_tools(
        [get_weather], tool_choice="get_weather", parallel_tool_calls=False
    )
    message = joined(list(bound.stream("Weather in Rome?")))
    assert [call["name"] for call in message.tool_calls] == ["get_weather"]
    assert isinstance(message.tool_calls[0]["args"]["city"], str) and message.tool_calls[0]["id"]


@pytest.mark.parametrize("model", MODELS)
def test_use_previous_response_id_continues_the_stored_conversation(gw: GatewayThread, model: str) -> None:
    llm = chat_model(gw, model, use_previous_response_id=True)
    history: list[BaseMessage] = [HumanMessage("My name is Ada. Remember it.")]
    first = llm.invoke(history)
    second = llm.invoke([*history, first, HumanMessage("What is my name?")])
    assert first.usage_metadata is not None and second.usage_metadata is not None
    # LangChain sent only the new question; the gateway put the stored turn back in front of it.
    assert (
        second.usage_metadata["input_tokens"]
        > first.usage_metadata["input_tokens"] + first.usage_metadata["output_tokens"]
    )
    assert second.text.startswith("Simulated reply to: What is my name?")


def test_a_conversation_with_a_system_message_and_an_earlier_answer(gw: GatewayThread) -> None:
    llm = chat_model(gw, "chat")
    earlier = llm.invoke("Hello there")
    reply = llm.invoke(
        [("system", "Be brief"), HumanMessage("Hello there"), earlier, HumanMessage("And again")]
    )
    assert reply.text.startswith("Simulated reply to: And again")


@pytest.mark.parametrize(
    ("model", "method"),
    [("chat", "json_schema"), ("chat", "function_calling"), ("claude", "function_calling")],
)
def test_with_structured_output(gw: GatewayThread, model: str, method: str) -> None:
    # json_schema on an Anthropic deployment becomes an instruction the simulator ignores
    # (test_responses_sdk says the same of responses.parse), so claude is tested with tools.
    weather = (
        chat_model(gw, model).with_structured_output(Weather, method=method).invoke("Weather in Rome as JSON")
    )  # type: ignore[arg-type]
    assert isinstance(weather, Weather) and isinstance(weather.city, str)


def test_structured_output_streams(gw: GatewayThread) -> None:
    parsed = list(
        chat_model(gw, "chat").with_structured_output(Weather, method="json_schema").stream("Weather in Rome")
    )
    assert parsed and isinstance(parsed[-1], Weather)


def test_max_tokens_is_an_incomplete_response(gw: GatewayThread) -> None:
    llm = chat_model(gw, "chat", max_tokens=3)
    reply = llm.invoke("A long story please")
    assert reply.response_metadata["status"] == "incomplete"
    assert reply.response_metadata["incomplete_details"] == {"reason": "max_output_tokens"}
    streamed = joined(list(llm.stream("A long story please")))
    assert streamed.response_metadata["status"] == "incomplete"


def test_images_in_a_human_message(gw: GatewayThread) -> None:
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    content: list[str | dict[Any, Any]] = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image", "base64": pixel, "mime_type": "image/png"},
    ]
    reply = chat_model(gw, "chat").invoke([HumanMessage(content=content)])
    assert reply.text.startswith("Simulated reply to: What is in this picture?")


async def test_async_invoke_and_stream(gw: GatewayThread) -> None:
    llm = chat_model(gw, "claude")
    reply = await llm.ainvoke("Hello async")
    chunks = [chunk async for chunk in llm.astream("Hello async stream")]
    assert reply.text.startswith("Simulated reply to: Hello async")
    assert joined(chunks).text.startswith("Simulated reply to: Hello async stream")


def test_errors_are_the_sdks_typed_errors(gw: GatewayThread) -> None:
    with pytest.raises(openai.NotFoundError):
        chat_model(gw, "no-such-model").invoke("hi")
    with pytest.raises(openai.BadRequestError, match="web_search"):
        chat_model(gw, "chat").bind_tools([{"type": "web_search"}]).invoke("news?")
    with pytest.raises(openai.RateLimitError):
        chat_model(gw, "fragile").invoke("hi [sim:fault=429]")


def test_a_stream_cut_after_it_started_raises(gw: GatewayThread) -> None:
    chunks: list[BaseMessage] = []
    with pytest.raises(openai.APIError):
        for chunk in chat_model(gw, "fragile").stream("this will break [sim:fault=cut]"):
            chunks.append(chunk)
    assert chunks  # it broke after the stream had started


# -- chat completions (ChatOpenAI's default) ----------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_chat_completions_invoke_and_stream(gw: GatewayThread, model: str) -> None:
    llm = chat_model(gw, model, responses=False, stream_usage=True)
    reply = llm.invoke("Say hello")
    assert reply.text.startswith("Simulated reply to: Say hello")
    assert gw.record(request_id(reply)).endpoint == "chat.completions"
    streamed = joined(list(llm.stream("Tell me a story")))
    assert streamed.text.startswith("Simulated reply to: Tell me a story")
    assert streamed.usage_metadata is not None and streamed.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_chat_completions_tool_loop(gw: GatewayThread, model: str) -> None:
    llm = chat_model(gw, model, responses=False)
    question = HumanMessage("What is the weather in Paris?")
    call = llm.bind_tools([get_weather], tool_choice="required").invoke([question])
    assert isinstance(call, AIMessage) and call.tool_calls[0]["name"] == "get_weather"
    answer = llm.bind_tools([get_weather]).invoke([question, call, get_weather.invoke(call.tool_calls[0])])
    assert answer.text.startswith("Simulated reply to tool result: 21C")
    streamed = joined(list(llm.bind_tools([get_weather], tool_choice="required").stream([question])))
    assert [c["name"] for c in streamed.tool_calls] == ["get_weather"]


@pytest.mark.parametrize(
    ("model", "method"),
    [("chat", "json_schema"), ("chat", "function_calling"), ("claude", "function_calling")],
)
def test_chat_completions_with_structured_output(gw: GatewayThread, model: str, method: str) -> None:
    llm = chat_model(gw, model, responses=False).with_structured_output(Weather, method=method)  # type: ignore[arg-type]
    weather = llm.invoke("Weather in Rome as JSON")
    assert isinstance(weather, Weather) and isinstance(weather.celsius, int)
