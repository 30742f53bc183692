// The end-to-end suite: the gateway (`go run ./app -demo`: a fake provider
// of each kind behind it) driven by the real clients, unmodified, at the
// versions package.json pins: the openai npm SDK, the AI SDK with its
// OpenAI (chat and responses) and Anthropic providers, Claude Code
// headless and Codex exec, and the official Anthropic SDK's accumulator.
// Each client runs plain, streaming and a two-step tool loop on the routes
// it speaks, passed through and translated, and asks for reasoning where
// it can. The fake echoes ("echo: " + the last user text), calls the
// first tool offered with {"query": that text} unless it says "no tool",
// answers a tool's result with "tool said: " + the result, and reasons
// when asked ("thought at EFFORT effort" as chat's reasoning_content,
// "thought within N tokens" as Anthropic's thinking).
//
//   KHIVE_APP=path/to/built/app node run.mjs     (E2E_ONLY=Codex: one client's cases)
//
// Then every answer and event the gateway writes on its OpenAI routes, passed
// through and translated, is validated against the OpenAI API's own schemas
// (testdata/openai-openapi-subset.json, from openai/openai-openapi: see its
// $comment), each stream event against its type's schema.
//
// Prints a table client × route and exits 1 when any case fails.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { generateText, streamText, tool, jsonSchema, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";
import Anthropic from "@anthropic-ai/sdk";
import Ajv2019 from "ajv/dist/2019.js";
import { readFileSync } from "node:fs";

globalThis.AI_SDK_LOG_WARNINGS = false; // the demo's model names are unknown to it: warnings, not failures
const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, "node_modules", ".bin");
const app = process.env.KHIVE_APP;
if (!app) {
  console.error("KHIVE_APP must name the built gateway (go build -o APP ./app)");
  process.exit(2);
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const gw = spawn(app, ["-demo", "-listen", `127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
let gwLog = "";
gw.stderr.on("data", (d) => (gwLog += d));
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/healthz`)).ok) break;
  } catch {}
  if (i > 300) {
    console.error("the gateway did not start:\n" + gwLog);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}

const results = [];
const only = process.env.E2E_ONLY; // a client's name, to run only its cases
async function check(client, route, kind, fn) {
  if (only && !client.includes(only)) return;
  const started = Date.now();
  try {
    const detail = await fn();
    results.push({ client, route, kind, ok: true, detail, ms: Date.now() - started });
  } catch (e) {
    results.push({ client, route, kind, ok: false, detail: String(e?.message ?? e).slice(0, 300), ms: Date.now() - started });
  }
}
const expect = (cond, what) => {
  if (!cond) throw new Error(what);
};
const has = (text, want, what) => expect(typeof text === "string" && text.includes(want), `${what}: want ${JSON.stringify(want)} in ${JSON.stringify(String(text).slice(0, 200))}`);

// Routes: passed through, or translated by the gateway.
const routes = {
  chat: { "demo (chat, pass-through)": "demo/m", "demo-claude (chat → Anthropic)": "demo-claude/claude-x" },
  responses: {
    "demo-responses (pass-through)": "demo-responses/m",
    "demo (responses → chat)": "demo/m",
    "demo-claude (responses → Anthropic)": "demo-claude/claude-x",
  },
  messages: { "demo-claude (pass-through)": "demo-claude/claude-x", "demo (messages → chat)": "demo/m" },
};

// The openai npm SDK.
const oa = new OpenAI({ baseURL: `${base}/v1`, apiKey: "e2e", maxRetries: 0 });
const weather = { type: "function", function: { name: "weather", description: "The weather in a city", parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] } } };
for (const [label, model] of Object.entries(routes.chat)) {
  await check("openai npm", label, "chat", async () => {
    const r = await oa.chat.completions.create({ model, messages: [{ role: "user", content: "hello there" }] });
    has(r.choices[0].message.content, "echo: hello there", "chat text");
  });
  await check("openai npm", label, "chat stream", async () => {
    const s = oa.chat.completions.stream({ model, messages: [{ role: "user", content: "hello there" }], stream_options: { include_usage: true } });
    const final = await s.finalChatCompletion();
    has(final.choices[0].message.content, "echo: hello there", "streamed text");
  });
  await check("openai npm", label, "chat tool loop", async () => {
    const messages = [{ role: "user", content: "Paris" }];
    const first = await oa.chat.completions.create({ model, messages, tools: [weather] });
    const call = first.choices[0].message.tool_calls?.[0];
    expect(call?.function.name === "weather", "a weather call");
    has(JSON.parse(call.function.arguments).query, "Paris", "the tool's arguments");
    messages.push(first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "sunny" });
    const second = await oa.chat.completions.create({ model, messages, tools: [weather] });
    has(second.choices[0].message.content, "tool said: sunny", "the tool's result reached the model");
  });
}
for (const [label, model] of Object.entries(routes.responses)) {
  await check("openai npm", label, "responses.stream", async () => {
    const s = oa.responses.stream({ model, input: "hello there" });
    let deltas = "";
    for await (const ev of s) if (ev.type === "response.output_text.delta") deltas += ev.delta;
    const final = await s.finalResponse();
    has(deltas, "echo: hello there", "deltas");
    has(final.output_text, "echo: hello there", "final response");
  });
  await check("openai npm", label, "responses tool loop", async () => {
    const tools = [{ type: "function", name: "weather", description: "The weather in a city", parameters: weather.function.parameters, strict: false }];
    const first = await oa.responses.create({ model, input: "Paris", tools });
    const call = first.output.find((o) => o.type === "function_call");
    expect(call?.name === "weather", "a weather call");
    has(JSON.parse(call.arguments).query, "Paris", "the tool's arguments");
    const input = [{ role: "user", content: "Paris" }, { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments }, { type: "function_call_output", call_id: call.call_id, output: "sunny" }];
    const second = await oa.responses.create({ model, input, tools });
    has(second.output_text, "tool said: sunny", "the tool's result reached the model");
  });
}

// Reasoning asked for, on the translated routes (the fakes reason when
// asked: "thought at EFFORT effort" from chat, "thought within N tokens"
// from Anthropic): a reasoning item whose summary streams in.
for (const [label, model] of Object.entries(routes.responses).filter(([l]) => l.includes("→"))) {
  await check("openai npm", label, "responses.stream reasoning", async () => {
    const s = oa.responses.stream({ model, input: "hello there", reasoning: { effort: "low", summary: "auto" } });
    let summary = "";
    for await (const ev of s) if (ev.type === "response.reasoning_summary_text.delta") summary += ev.delta;
    const final = await s.finalResponse();
    has(summary, "thought ", "summary deltas");
    const item = final.output.find((o) => o.type === "reasoning");
    has(item?.summary?.[0]?.text, "thought ", "the final reasoning item");
    has(final.output_text, "echo: hello there", "final text");
  });
}

// The official Anthropic SDK's stream accumulator (messages.stream()),
// thinking included.
const an = new Anthropic({ baseURL: base, apiKey: "e2e", maxRetries: 0 });
for (const [label, model] of Object.entries(routes.messages)) {
  await check("@anthropic-ai/sdk", label, "messages.stream", async () => {
    const final = await an.messages.stream({ model, max_tokens: 64, messages: [{ role: "user", content: "hello there" }] }).finalMessage();
    has(final.content.find((b) => b.type === "text")?.text, "echo: hello there", "text");
    expect(final.stop_reason === "end_turn", `stop_reason ${final.stop_reason}`);
  });
  await check("@anthropic-ai/sdk", label, "messages.stream thinking", async () => {
    const final = await an.messages
      .stream({ model, max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 2048 }, messages: [{ role: "user", content: "hello there" }] })
      .finalMessage();
    expect(final.content[0]?.type === "thinking", `first block ${JSON.stringify(final.content[0])}`);
    has(final.content[0].thinking, "thought ", "thinking");
    has(final.content.find((b) => b.type === "text")?.text, "echo: hello there", "text");
  });
  await check("@anthropic-ai/sdk", label, "messages.stream tool use", async () => {
    const tools = [{ name: "weather", description: "The weather in a city", input_schema: weather.function.parameters }];
    const final = await an.messages.stream({ model, max_tokens: 64, tools, messages: [{ role: "user", content: "Paris" }] }).finalMessage();
    const call = final.content.find((b) => b.type === "tool_use");
    has(call?.input?.query, "Paris", "the tool's input");
    expect(final.stop_reason === "tool_use", `stop_reason ${final.stop_reason}`);
  });
}

// The AI SDK.
const aiOpenAI = createOpenAI({ baseURL: `${base}/v1`, apiKey: "e2e" });
const aiAnthropic = createAnthropic({ baseURL: `${base}/v1`, apiKey: "e2e" });
const sdkModels = [
  ["@ai-sdk/openai .chat()", routes.chat, (m) => aiOpenAI.chat(m)],
  ["@ai-sdk/openai .responses()", routes.responses, (m) => aiOpenAI.responses(m)],
  ["@ai-sdk/anthropic", routes.messages, (m) => aiAnthropic(m)],
];
for (const [client, rs, make] of sdkModels) {
  for (const [label, model] of Object.entries(rs)) {
    await check(client, label, "generateText", async () => {
      const r = await generateText({ model: make(model), prompt: "hello there", maxRetries: 0 });
      has(r.text, "echo: hello there", "text");
    });
    await check(client, label, "streamText", async () => {
      const r = streamText({ model: make(model), prompt: "hello there", maxRetries: 0, onError: () => {} });
      let text = "";
      for await (const t of r.textStream) text += t;
      has(text, "echo: hello there", "streamed text");
    });
    await check(client, label, "tool loop (streamText)", async () => {
      let args;
      const r = streamText({
        model: make(model),
        prompt: "Paris",
        maxRetries: 0,
        onError: () => {},
        stopWhen: stepCountIs(3),
        tools: {
          weather: tool({
            description: "The weather in a city",
            inputSchema: jsonSchema({ type: "object", properties: { query: { type: "string" } }, required: ["query"] }),
            execute: async (input) => {
              args = input;
              return "sunny";
            },
          }),
        },
      });
      let text = "";
      for await (const t of r.textStream) text += t;
      has(args?.query, "Paris", "the tool's arguments");
      has(text, "tool said: ", "the second step's text");
      has(text, "sunny", "the tool's result reached the model");
    });
  }
}

// The AI SDK's reasoning: Anthropic thinking and OpenAI reasoning effort,
// on the routes that reason.
const reasoningCases = [
  ["@ai-sdk/anthropic", routes.messages, (m) => aiAnthropic(m), { anthropic: { thinking: { type: "enabled", budgetTokens: 2048 } } }],
  ["@ai-sdk/openai .responses()", Object.fromEntries(Object.entries(routes.responses).filter(([l]) => l.includes("→"))), (m) => aiOpenAI.responses(m), { openai: { reasoningEffort: "low", reasoningSummary: "auto", forceReasoning: true } }],
];
for (const [client, rs, make, providerOptions] of reasoningCases) {
  for (const [label, model] of Object.entries(rs)) {
    await check(client, label, "reasoning (generateText, streamText)", async () => {
      const r = await generateText({ model: make(model), prompt: "hello there", maxRetries: 0, providerOptions });
      has(r.reasoningText, "thought ", "reasoning");
      has(r.text, "echo: hello there", "text");
      const s = streamText({ model: make(model), prompt: "hello there", maxRetries: 0, providerOptions, onError: () => {} });
      let reasoning = "";
      for await (const part of s.fullStream) if (part.type === "reasoning-delta") reasoning += part.text;
      has(reasoning, "thought ", "streamed reasoning");
    });
  }
}

// Claude Code, headless.
// run runs a client's command with no stdin (Codex reads a piped stdin
// to its end before it starts), within timeout.
const run = (file, args, env, timeout = 60_000) =>
  new Promise((resolve) => {
    const child = spawn(file, args, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env }, cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ err: code === 0 ? null : new Error(`exit ${code ?? signal}`), stdout, stderr });
    });
  });
const claudeHome = mkdtempSync(join(tmpdir(), "khive-e2e-claude-"));
const claudeEnv = {
  HOME: claudeHome,
  ANTHROPIC_BASE_URL: base,
  ANTHROPIC_API_KEY: "e2e",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_AUTOUPDATER: "1",
};
for (const [label, model] of Object.entries(routes.messages)) {
  for (const [kind, prompt, want] of [
    ["claude -p (stream)", "say hello, no tool", "say hello, no tool"],
    ["claude -p tool loop", "look around", "tool said: "],
  ]) {
    await check("Claude Code", label, kind, async () => {
      const { err, stdout, stderr } = await run(join(bin, "claude"), ["-p", prompt, "--output-format", "json", "--model", model, "--max-turns", "3"], claudeEnv);
      let out;
      try {
        out = JSON.parse(stdout);
      } catch {
        throw new Error(`not JSON (${err?.message ?? ""}): ${stdout.slice(0, 200)} ${stderr.slice(0, 200)}`);
      }
      expect(out.is_error === false, `is_error: ${JSON.stringify(out).slice(0, 300)}`);
      has(out.result, want, "result");
    });
  }
}

// Codex exec, with the gateway as a custom provider on the Responses API.
for (const [label, model] of Object.entries(routes.responses)) {
  const home = mkdtempSync(join(tmpdir(), "khive-e2e-codex-"));
  writeFileSync(
    join(home, "config.toml"),
    `model = "${model}"\nmodel_provider = "khive"\n\n[model_providers.khive]\nname = "khive"\nbase_url = "${base}/v1"\nenv_key = "KHIVE_E2E_KEY"\nwire_api = "responses"\n`,
  );
  for (const [kind, prompt, want] of [
    ["codex exec", "say hello, no tool", "say hello, no tool"],
    ["codex exec tool loop", "look around", "tool said: "],
  ]) {
    await check("Codex", label, kind, async () => {
      const { stdout } = await run(join(bin, "codex"), ["exec", "--json", "--skip-git-repo-check", prompt], { CODEX_HOME: home, KHIVE_E2E_KEY: "e2e" });
      const events = stdout.split("\n").filter(Boolean).map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      });
      const failed = events.find((e) => e.type === "turn.failed" || e.type === "error");
      if (failed) throw new Error(`failed: ${JSON.stringify(failed).slice(0, 300)}`);
      const msgs = events.filter((e) => e.type === "item.completed" && e.item?.type === "agent_message").map((e) => e.item.text);
      expect(msgs.length > 0, `no agent message: ${stdout.slice(-300)}`);
      has(msgs.join("\n"), want, "agent message");
    });
  }
}

// The OpenAI API's schemas, on what the gateway writes.
const spec = JSON.parse(readFileSync(join(here, "testdata", "openai-openapi-subset.json"), "utf8"));
const ajv = new Ajv2019({ strict: false, validateFormats: false });
ajv.addSchema(spec);
const eventSchema = {}; // a stream event's type → its schema
for (const [name, def] of Object.entries(spec.$defs)) {
  const t = def?.properties?.type?.enum;
  if (name.endsWith("Event") && Array.isArray(t) && t.length === 1) eventSchema[t[0]] = name;
}
const conform = (name, v, what) => {
  const f = ajv.getSchema(`${spec.$id}#/$defs/${name}`);
  expect(f, `no schema ${name}`);
  if (!f(v)) throw new Error(`${what} is not a ${name}: ${JSON.stringify(f.errors.slice(0, 2))}`);
};
const raw = async (path, body) => {
  const r = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer e2e" }, body: JSON.stringify(body) });
  const text = await r.text();
  expect(r.ok, `${r.status}: ${text.slice(0, 200)}`);
  return text;
};
const sseData = (text) => text.split("\n").filter((l) => l.startsWith("data: ") && l !== "data: [DONE]").map((l) => JSON.parse(l.slice(6)));
for (const [label, model] of Object.entries(routes.chat)) {
  for (const [kind, extra] of [["answer", {}], ["answer with a tool call", { tools: [weather] }]]) {
    await check("OpenAPI schema", label, `chat ${kind}`, async () => {
      conform("CreateChatCompletionResponse", JSON.parse(await raw("/v1/chat/completions", { model, messages: [{ role: "user", content: "Paris" }], ...extra })), "the answer");
    });
  }
  await check("OpenAPI schema", label, "chat answer and chunks with reasoning", async () => {
    const body = { model, messages: [{ role: "user", content: "Paris" }], reasoning_effort: "low" };
    const answer = JSON.parse(await raw("/v1/chat/completions", body));
    has(answer.choices[0].message.reasoning_content, "thought ", "reasoning_content");
    conform("CreateChatCompletionResponse", answer, "the answer");
    const chunks = sseData(await raw("/v1/chat/completions", { ...body, stream: true }));
    chunks.forEach((c, i) => conform("CreateChatCompletionStreamResponse", c, `chunk ${i}`));
  });
  await check("OpenAPI schema", label, "chat chunks", async () => {
    const chunks = sseData(await raw("/v1/chat/completions", { model, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "Paris" }], tools: [weather] }));
    expect(chunks.length > 1, "chunks");
    chunks.forEach((c, i) => conform("CreateChatCompletionStreamResponse", c, `chunk ${i}`));
  });
}
const rtools = [{ type: "function", name: "weather", parameters: weather.function.parameters }];
for (const [label, model] of Object.entries(routes.responses)) {
  for (const [kind, extra] of [
    ["response", { input: "hi, no tool" }],
    ["response with a call", { input: "Paris", tools: rtools }],
    ["response with reasoning", { input: "hi, no tool", reasoning: { effort: "low", summary: "auto" } }],
  ]) {
    await check("OpenAPI schema", label, kind, async () => {
      conform("Response", JSON.parse(await raw("/v1/responses", { model, ...extra })), "the response");
    });
    await check("OpenAPI schema", label, `${kind}: events`, async () => {
      const evs = sseData(await raw("/v1/responses", { model, stream: true, ...extra }));
      expect(evs.length > 2, "events");
      for (const ev of evs) conform(eventSchema[ev.type] ?? "ResponseStreamEvent", ev, ev.type);
    });
  }
}

gw.kill("SIGTERM");

const clients = [...new Set(results.map((r) => r.client))];
console.log("| client | route | case | result | ms |\n| --- | --- | --- | --- | --- |");
for (const r of results) console.log(`| ${r.client} | ${r.route} | ${r.kind} | ${r.ok ? "pass" : "FAIL: " + r.detail.replaceAll("|", "/").replaceAll("\n", " ")} | ${r.ms} |`);
const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} of ${results.length} passed (${clients.length} clients)`);
process.exit(failed.length ? 1 : 0);
