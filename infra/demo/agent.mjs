// A tiny tool-using agent for the llmaudit demo. It speaks Ollama's OpenAI-compatible API at
// $OLLAMA_HOST (the app never knows a sidecar is there) with nothing but Node's fetch:
// user prompt → the model calls get_weather → the tool result goes back → final answer.
const base = (process.env.OLLAMA_HOST ?? 'http://127.0.0.1:11434').replace(/^(?!https?:\/\/)/, 'http://');
const model = process.env.MODEL ?? 'qwen2.5:0.5b';
const intervalMs = Number(process.env.INTERVAL_MS ?? 30000);

const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];

function getWeather({ city }) {
  return JSON.stringify({ city, tempC: 18 + (city.length % 7), sky: 'clear' });
}

async function post(path, body) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

async function pullModel() {
  for (;;) {
    try {
      await post('/api/pull', { model, stream: false });
      return;
    } catch (err) {
      console.log(JSON.stringify({ msg: 'waiting for ollama', err: String(err) }));
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

async function converse(city) {
  const messages = [
    { role: 'system', content: 'You are a helpful assistant. Use tools when they help.' },
    { role: 'user', content: `What is the weather in ${city}?` },
  ];
  for (let turn = 0; turn < 4; turn++) {
    const out = await post('/v1/chat/completions', { model, messages, tools });
    const msg = out.choices[0].message;
    messages.push(msg);
    if (!msg.tool_calls?.length) {
      console.log(JSON.stringify({ msg: 'answer', city, answer: msg.content }));
      return;
    }
    for (const call of msg.tool_calls) {
      messages.push({ role: 'tool', tool_call_id: call.id, content: getWeather(JSON.parse(call.function.arguments || '{}')) });
    }
  }
}

await pullModel();
const cities = ['Paris', 'Lagos', 'Osaka', 'Lima'];
for (let i = 0; ; i++) {
  try {
    await converse(cities[i % cities.length]);
  } catch (err) {
    console.log(JSON.stringify({ msg: 'conversation failed', err: String(err) }));
  }
  await new Promise((r) => setTimeout(r, intervalMs));
}
