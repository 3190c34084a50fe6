// Drives Headway with Node clients and prints what they got as one JSON object.
// Usage: node clients.mjs <gateway base url>   (tests/dialects/test_node_clients.py)
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, jsonSchema } from "ai";

const base = process.argv[2];
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
const out = {};

// openai-node: client.responses.create, plain / streaming / tools / previous_response_id / structured output.
const plain = await client.responses.create({ model: "chat", input: "Say hello" });
out.plain = { id: plain.id, status: plain.status, text: plain.output_text, usage: plain.usage };

const stream = await client.responses.create({ model: "chat", input: "Tell me a story", stream: true });
const kinds = [];
let deltas = "";
let completed = null;
for await (const event of stream) {
  kinds.push(event.type);
  if (event.type === "response.output_text.delta") deltas += event.delta;
  if (event.type === "response.completed") completed = event.response;
}
out.stream = { kinds, deltas, completedText: completed?.output?.[0]?.content?.[0]?.text ?? null, outputTokens: completed?.usage?.output_tokens ?? 0 };

const weather = {
  type: "function", name: "get_weather", description: "The weather in a city", strict: true,
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
};
const called = await client.responses.create({ model: "chat", input: "Weather in Paris?", tools: [weather], tool_choice: "required" });
const call = called.output.find((item) => item.type === "function_call");
const followed = await client.responses.create({
  model: "chat", previous_response_id: called.id, tools: [weather],
  input: [{ type: "function_call_output", call_id: call.call_id, output: '{"celsius": 21}' }],
});
out.tools = { name: call.name, arguments: call.arguments, followUpText: followed.output_text, previous: followed.previous_response_id };

const structured = await client.responses.create({
  model: "chat", input: "Weather in Rome as JSON",
  text: { format: { type: "json_schema", name: "weather", strict: true,
    schema: { type: "object", properties: { city: { type: "string" }, celsius: { type: "integer" } }, required: ["city", "celsius"], additionalProperties: false } } },
});
out.structured = JSON.parse(structured.output_text);

// The Vercel AI SDK's default OpenAI provider: createOpenAI(...)(id) speaks /v1/responses.
const provider = createOpenAI({ baseURL: `${base}/v1`, apiKey: "unused" });
const generated = await generateText({ model: provider("chat"), prompt: "Say hello", maxRetries: 0 });
out.vercel = { text: generated.text, finishReason: generated.finishReason, inputTokens: generated.usage.inputTokens, outputTokens: generated.usage.outputTokens };

const streamed = streamText({ model: provider("chat"), prompt: "Tell me a story", maxRetries: 0 });
let streamedText = "";
for await (const part of streamed.textStream) streamedText += part;
out.vercelStream = { text: streamedText, finishReason: await streamed.finishReason };

const withTool = await generateText({
  model: provider("chat"), prompt: "What is the weather in Oslo?", maxRetries: 0, toolChoice: "required",
  tools: { get_weather: tool({ description: "The weather in a city", inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }) }) },
});
out.vercelTool = { calls: withTool.toolCalls.map((c) => ({ name: c.toolName, input: c.input })) };

// openai-node: background responses (queued, retrieved until finished; a slow one cancelled).
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(id, done) {
  for (let i = 0; i < 600; i++) {  // bounded: 30 s
    const response = await client.responses.retrieve(id);
    if (done(response)) return response;
    await sleep(50);
  }
  return client.responses.retrieve(id);
}
const queued = await client.responses.create({ model: "chat", input: "Work in the background", background: true });
const finished = await until(queued.id, (r) => !["queued", "in_progress"].includes(r.status));
const slow = await client.responses.create({ model: "chat", input: "Slowly [sim:latency_ms=20000]", background: true });
await until(slow.id, (r) => r.status === "in_progress");
const cancelled = await client.responses.cancel(slow.id);
out.background = { queued: queued.status, finished: finished.status, text: finished.output_text, cancelled: cancelled.status,
  retrieved: (await client.responses.retrieve(slow.id)).status };

console.log(JSON.stringify(out));
