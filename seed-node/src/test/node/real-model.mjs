// The official openai client against a Sluice gateway serving a REAL model (RealModelIT). Usage:
//   node real-model.mjs BASE_URL MODEL PROMPT MAX_TOKENS
// Greedy (temperature 0) completions and chat completions, non-streamed and streamed; prints one
// JSON object with what the client saw.
import OpenAI from "openai";

const [baseURL, model, prompt, maxTokens] = process.argv.slice(2);
const max_tokens = Number(maxTokens);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: "unused", maxRetries: 0 });
const out = {};

const completion = await client.completions.create({ model, prompt, max_tokens, temperature: 0 });
out.completion = {
  object: completion.object,
  text: completion.choices[0].text,
  finish_reason: completion.choices[0].finish_reason,
  usage: completion.usage,
};

const cstream = await client.completions.create({
  model,
  prompt,
  max_tokens,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
let ctext = "";
let cfinish = null;
let cusage = null;
for await (const c of cstream) {
  if (c.choices.length > 0) {
    ctext += c.choices[0].text ?? "";
    cfinish = c.choices[0].finish_reason ?? cfinish;
  }
  if (c.usage) cusage = c.usage;
}
out.completionStream = { text: ctext, finish_reason: cfinish, usage: cusage };

async function chat() {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: prompt }],
    max_tokens,
    temperature: 0,
  });
  return {
    object: r.object,
    role: r.choices[0].message.role,
    content: r.choices[0].message.content,
    finish_reason: r.choices[0].finish_reason,
    usage: r.usage,
  };
}
out.chat = await chat();
out.chatAgain = await chat();

const sstream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: prompt }],
  max_tokens,
  temperature: 0,
  stream: true,
});
let stext = "";
let sfinish = null;
for await (const c of sstream) {
  if (c.choices.length > 0) {
    stext += c.choices[0].delta.content ?? "";
    sfinish = c.choices[0].finish_reason ?? sfinish;
  }
}
out.chatStream = { content: stext, finish_reason: sfinish };
console.log(JSON.stringify(out));
