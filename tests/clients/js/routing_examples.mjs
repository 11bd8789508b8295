// The seed's OpenAI JS examples for user_config and client-side keys, pointed at relaykit; prints one JSON line.
import OpenAI from "openai";

const baseURL = process.argv[2];

// "Pass User LLM API Keys, Fallbacks" (OpenAI JS), as the seed writes it.
const userConfig = {
  model_list: [
    {
      model_name: 'user-azure-instance',
      litellm_params: {
        model: 'azure/chatgpt-v-2',
        api_key: process.env.AZURE_API_KEY,
        api_version: process.env.AZURE_API_VERSION,
        api_base: process.env.AZURE_API_BASE,
        timeout: 10,
      },
      tpm: 240000,
      rpm: 1800,
    },
    {
      model_name: 'user-openai-instance',
      litellm_params: {
        model: 'gpt-3.5-turbo',
        api_key: process.env.OPENAI_API_KEY,
        timeout: 10,
      },
      tpm: 240000,
      rpm: 1800,
    },
  ],
  num_retries: 2,
  allowed_fails: 3,
  fallbacks: [
    {
      'user-azure-instance': ['user-openai-instance']
    }
  ]
};

const openai = new OpenAI({ apiKey: "sk-1234", baseURL });
const withUserConfig = await openai.chat.completions.create({
  messages: [{ role: 'user', content: 'Say this is a test' }],
  model: 'gpt-3.5-turbo',
  user_config: userConfig // # 👈 User config
});

// "Pass User LLM API Keys / API Base" (OpenAI JS).
const withUserKey = await openai.chat.completions.create({
  messages: [{ role: 'user', content: 'Say this is a test' }],
  model: 'gpt-3.5-turbo',
  api_key: "my-bad-key" // 👈 User Key
});

console.log(JSON.stringify({
  user_config: withUserConfig.choices[0].message.content,
  api_key: withUserKey.choices[0].message.content,
}));
