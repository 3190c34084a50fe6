"""pydantic-ai as the client: ``OpenAIResponsesModel`` on ``/v1/responses``, ``OpenAIChatModel`` on chat.

Agents run against a real gateway and the simulator, over an OpenAI-type model (``chat``)
and an Anthropic one (``claude``). The simulator answers a tool result with ``Simulated
reply to tool result: <the result>``, which is how these tests see what reached the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, BinaryContent, NativeOutput, RunContext, Tool
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel, OpenAIResponsesModelSettings
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import ToolDefinition

from headway.testing import GatewayThread
from tests.dialects.clients import MODELS, client_gateway
from tests.http import request
from tests.routing.simctl import unique

FRAGILE = unique("pai-fragile")
PICTURES = unique("pai-pictures")
PICTURES_CLAUDE = unique("pai-pictures-claude")
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63fccf00000301010018dd8db00000000049454e44ae426082"
)


class Weather(BaseModel):
    city: str
    celsius: int


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "21C"


def draw_chart(city: str) -> BinaryContent:
    """A chart of the weather in a city."""
    return BinaryContent(data=PIXEL, media_type="image/png")


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("pydantic_ai")
    models = {
        "fragile": {"deployments": [{"provider": "sim", "model": FRAGILE}], "retries": {"max_retries": 0}},
        "pictures": {"deployments": [{"provider": "sim", "model": PICTURES}]},
        "pictures-claude": {"deployments": [{"provider": "sim-anthropic", "model": PICTURES_CLAUDE}]},
    }
    yield from client_gateway(sim.url, directory, models)


def provider(gw: GatewayThread) -> OpenAIProvider:
    # A client per test: the async client belongs to the loop it first ran on.
    return OpenAIProvider(
        openai_client=openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    )


def responses_model(gw: GatewayThread, model: str) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(model, provider=provider(gw))


def parts(messages: list[ModelMessage]) -> list[str]:
    return [type(part).__name__ for message in messages for part in message.parts]


# -- OpenAIResponsesModel -----------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
async def test_a_run_is_answered_with_usage(gw: GatewayThread, model: str) -> None:
    result = await Agent(responses_model(gw, model), instructions="Be brief").run("Say hello")
    assert result.output.startswith("Simulated reply to: Say hello")
    response = result.all_messages()[-1]
    assert isinstance(response, ModelResponse) and response.finish_reason == "stop"
    assert response.provider_response_id is not None and response.provider_response_id.startswith("resp_")
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
async def test_a_tool_call_and_its_result(gw: GatewayThread, model: str) -> None:
    agent = Agent(responses_model(gw, model), tools=[get_weather])
    result = await agent.run("What is the weather in Paris?")
    assert parts(result.all_messages()) == ["UserPromptPart", "ToolCallPart", "ToolReturnPart", "TextPart"]
    call = next(
        part for message in result.all_messages() for part in message.parts if isinstance(part, ToolCallPart)
    )
    assert call.tool_name == "get_weather" and isinstance(call.args_as_dict()["city"], str)
    assert result.output.startswith("Simulated reply to tool result: 21C")
    assert result.usage.requests == 2


@pytest.mark.parametrize("model", MODELS)
async def test_structured_output_with_the_output_tool(gw: GatewayThread, model: str) -> None:
    weather = (await Agent(responses_model(gw, model), output_type=Weather).run("Weather in Rome")).output
    assert isinstance(weather, Weather) and isinstance(weather.celsius, int)


async def test_native_structured_output_is_text_format_json_schema(gw: GatewayThread) -> None:
    # OpenAI-type only: an Anthropic deployment gets the schema as an instruction, which the
    # simulator's Anthropic dialect ignores (test_responses_sdk says the same of responses.parse).
    weather = (
        await Agent(responses_model(gw, "chat"), output_type=NativeOutput(Weather)).run("Weather in Rome")
    ).output
    assert isinstance(weather, Weather) and isinstance(weather.city, str)


@pytest.mark.parametrize("model", MODELS)
async def test_text_streams(gw: GatewayThread, model: str) -> None:
    async with Agent(responses_model(gw, model)).run_stream("Tell me a story") as run:
        deltas = [delta async for delta in run.stream_text(delta=True)]
    assert len(deltas) >= 1 and "".join(deltas).startswith("Simulated reply to: Tell me a story")
    assert run.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
async def test_a_streamed_run_calls_the_tool_then_streams_the_answer(gw: GatewayThread, model: str) -> None:
    async with Agent(responses_model(gw, model), tools=[get_weather]).run_stream("Weather in Oslo?") as run:
        text = "".join([delta async for delta in run.stream_text(delta=True)])
    assert text.startswith("Simulated reply to tool result: 21C")
    assert "ToolReturnPart" in parts(run.all_messages())


async def test_structured_output_streams(gw: GatewayThread) -> None:
    async with Agent(responses_model(gw, "chat"), output_type=Weather).run_stream("Weather in Rome") as run:
        outputs = [output async for output in run.stream_output()]
    assert outputs and isinstance(outputs[-1], Weather)


@pytest.mark.parametrize("model", MODELS)
async def test_previous_response_id_auto_sends_only_the_new_turn(gw: GatewayThread, model: str) -> None:
    settings = OpenAIResponsesModelSettings(openai_previous_response_id="auto")
    agent = Agent(responses_model(gw, model), model_settings=settings)
    first = await agent.run("My name is Ada. Remember it.")
    second = await agent.run("What is my name?", message_history=first.all_messages())
    assert second.output.startswith("Simulated reply to: What is my name?")
    # The gateway put the stored first turn back in front of the new question.
    assert second.new_messages()[-1].usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens  # type: ignore[union-attr]


async def chart_once(ctx: RunContext[None], tool: ToolDefinition) -> ToolDefinition | None:
    """Offered on the first request only: the simulator calls a tool whenever a user message ends the input."""
    return tool if ctx.run_step <= 1 else None


@pytest.mark.parametrize(
    ("model", "deployment"),
    [("pictures", PICTURES), ("pictures-claude", PICTURES_CLAUDE)],
    ids=["pictures", "pictures-claude"],  # stable ids: the deployment names are random per process (xdist workers must agree)
)
async def test_a_tool_that_returns_an_image(gw: GatewayThread, sim: Any, model: str, deployment: str) -> None:
    # pydantic-ai sends the tool's file as `output` parts; chat carries a tool's text only,
    # so the gateway hands the model the image in a user message after the tool turn.
    agent = Agent(responses_model(gw, model), tools=[Tool(draw_chart, prepare=chart_once)])
    result = await agent.run("Chart the weather in Paris")
    assert "ToolReturnPart" in parts(result.all_messages())
    log = request("GET", f"{sim.url}/sim/requests?limit=200").json()["requests"]
    sent = [entry["body"] for entry in log if entry["model"] == deployment]
    assert len(sent) == 2
    messages = sent[-1]["messages"]
    if model == "pictures":  # chat: the tool message, then the image in a user message
        assert messages[-2] == {
            "role": "tool",
            "tool_call_id": messages[-3]["tool_calls"][0]["id"],
            "content": "(the image is in the next message)",
        }
        assert [part["type"] for part in messages[-1]["content"]] == ["text", "image_url"]
        assert messages[-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    else:  # Anthropic: the tool result, then the image, in one user turn
        assert messages[-1]["role"] == "user"
        assert [block["type"] for block in messages[-1]["content"]] == ["tool_result", "text", "image"]
        assert messages[-1]["content"][2]["source"]["media_type"] == "image/png"


async def test_errors_carry_the_status(gw: GatewayThread) -> None:
    with pytest.raises(ModelHTTPError) as missing:
        await Agent(responses_model(gw, "no-such-model")).run("hi")
    assert missing.value.status_code == 404
    with pytest.raises(ModelHTTPError) as limited:
        await Agent(responses_model(gw, "fragile")).run("hi [sim:fault=429]")
    assert limited.value.status_code == 429


# -- OpenAIChatModel (chat completions) ---------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
async def test_chat_model_with_a_tool_and_structured_output(gw: GatewayThread, model: str) -> None:
    chat_model = OpenAIChatModel(model, provider=provider(gw))
    result = await Agent(chat_model, tools=[get_weather]).run("What is the weather in Paris?")
    assert parts(result.all_messages()) == ["UserPromptPart", "ToolCallPart", "ToolReturnPart", "TextPart"]
    assert result.output.startswith("Simulated reply to tool result: 21C")
    weather = (await Agent(chat_model, output_type=Weather).run("Weather in Rome")).output
    assert isinstance(weather, Weather)
    async with Agent(chat_model).run_stream("Tell me a story") as run:
        text = "".join([delta async for delta in run.stream_text(delta=True)])
    assert text.startswith("Simulated reply to: Tell me a story")
