// One chat call through the official OpenAI Node SDK; prints what the app sees as one JSON line.
// argv: baseURL prompt [prefer] ; the result is {kind: "completion", ...} or {kind: "error", ...}.
import OpenAI from "openai";

const [baseURL, prompt, prefer] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 2 });
const headers = prefer ? { Prefer: prefer } : {};
try {
  const completion = await client.chat.completions.create(
    { model: "chat", messages: [{ role: "user", content: prompt }], metadata: { consequential: "true" } },
    { headers },
  );
  console.log(JSON.stringify({ kind: "completion", object: completion.object, content: completion.choices[0].message.content }));
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  console.log(JSON.stringify({
    kind: "error",
    name: error.constructor.name,
    conflict: error instanceof OpenAI.ConflictError,
    denied: error instanceof OpenAI.PermissionDeniedError,
    status: error.status,
    code: error.code,
    review_id: error.error?.review_id ?? null,
    status_url: error.error?.status_url ?? null,
    location: error.headers?.get("location") ?? null,
  }));
}
