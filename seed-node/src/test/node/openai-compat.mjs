// The official openai client against a running Sluice gateway. Usage:
//   node openai-compat.mjs BASE_URL MODEL
// Prints one JSON object with what the client saw; OpenAiClientIT asserts on it.
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: "unused", maxRetries: 0 });
const out = {};

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

const chat = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "Say hello" }],
  max_tokens: 5,
  temperature: 0,
});
out.chat = {
  object: chat.object,
  content: chat.choices[0].message.content,
  finish_reason: chat.choices[0].finish_reason,
  usage: chat.usage,
};

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "Say hello" }],
  max_tokens: 5,
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let finish = null;
let usage = null;
let chunks = 0;
for await (const c of stream) {
  chunks++;
  if (c.choices.length > 0) {
    text += c.choices[0].delta.content ?? "";
    finish = c.choices[0].finish_reason ?? finish;
  }
  if (c.usage) usage = c.usage;
}
out.stream = { content: text, finish_reason: finish, usage, chunks };

const completion = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 3 });
out.completion = { object: completion.object, text: completion.choices[0].text };

const tstream = await client.completions.create({ model, prompt: "Once", max_tokens: 3, stream: true });
let ttext = "";
for await (const c of tstream) ttext += c.choices[0]?.text ?? "";
out.completionStream = { text: ttext };

async function error(req) {
  try {
    await req();
    return { status: 200 };
  } catch (e) {
    return {
      class: e.constructor.name,
      status: e.status,
      code: e.code ?? null,
      param: e.param ?? null,
      retryAfter: e.headers?.get?.("retry-after") ?? null,
      reason: e.headers?.get?.("x-sluice-reason") ?? null,
    };
  }
}
out.errors = {
  badTemperature: await error(() =>
    client.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], temperature: 5 })),
  unknownModel: await error(() =>
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] })),
  unmeetableDeadline: await error(() =>
    client.chat.completions.create(
      { model, messages: [{ role: "user", content: "x" }], max_tokens: 4000 },
      { headers: { "X-Sluice-Deadline-Ms": "100" } })),
};
console.log(JSON.stringify(out));
