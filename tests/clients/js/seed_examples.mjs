// The seed's OpenAI JS and LangChain JS examples, pointed at relaykit; prints one JSON line of what they got.
import OpenAI from "openai";
import { ChatOpenAI } from "@langchain/openai";

const baseURL = process.argv[2];

const openai = new OpenAI({ apiKey: "sk-1234", baseURL });
const chatCompletion = await openai.chat.completions.create(
  { messages: [{ role: "user", content: "Say this is a test" }], model: "gpt-3.5-turbo" },
  { metadata: { generation_name: "ishaan-generation-openaijs-client" } },
);

const stream = await openai.chat.completions.create({
  messages: [{ role: "user", content: "stream this please" }], model: "gpt-3.5-turbo", stream: true,
});
let streamed = "";
for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";

// The seed's `openAIApiKey` / second-argument `basePath` are the pre-1.0 spellings of `apiKey` / `configuration.baseURL`.
const model = new ChatOpenAI({
  model: "gpt-4", apiKey: "sk-1234", modelKwargs: { metadata: "hello world" }, configuration: { baseURL },
});
const message = await model.invoke("Hi there!");

console.log(JSON.stringify({
  openai: chatCompletion.choices[0].message.content,
  streamed,
  langchain: message.content,
}));
