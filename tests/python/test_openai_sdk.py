"""The official `openai` Python SDK against baton's OpenAI-compatible API.

Run by the Rust end-to-end suite (crates/baton-cli/tests/openai_sdk.rs),
which starts the scripted model server and the real `baton serve` in front
of it, then runs this file with:

  BATON_URL       baton's base URL (http://127.0.0.1:PORT)
  BATON_TOKEN     the bearer token baton requires
  SCRIPTED_URL    the scripted model server, to queue replies and tool calls
  BATON_MODEL     the model id to ask for
"""

import json
import os
import sys
import unittest
import urllib.request

import openai

BATON_URL = os.environ["BATON_URL"]
TOKEN = os.environ["BATON_TOKEN"]
SCRIPTED_URL = os.environ["SCRIPTED_URL"]
MODEL = os.environ["BATON_MODEL"]


def script(step):
    """Queues one reply on the scripted model server."""
    req = urllib.request.Request(
        SCRIPTED_URL + "/__testkit/steps",
        data=json.dumps(step).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (200, 201, 204), resp.status


def client(token=TOKEN):
    return openai.OpenAI(base_url=BATON_URL + "/v1", api_key=token, max_retries=0, timeout=30)


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class OpenAiSdk(unittest.TestCase):
    def test_non_streaming(self):
        script({"text": "Hello from the scripted model", "usage": {"prompt": 7, "completion": 5}})
        r = client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.choices[0].message.content, "Hello from the scripted model")
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.usage.prompt_tokens, 7)
        self.assertEqual(r.usage.completion_tokens, 5)
        self.assertEqual(r.usage.total_tokens, 12)
        self.assertTrue(r.model.endswith("scripted-small"), r.model)

    def test_streaming_with_usage(self):
        script({"text": "one two three four", "usage": {"prompt": 3, "completion": 4}})
        stream = client().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage, finish = "", None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        self.assertEqual(text, "one two three four")
        self.assertEqual(finish, "stop")
        self.assertIsNotNone(usage)
        self.assertEqual(usage.completion_tokens, 4)

    def test_tool_call_round_trip(self):
        script({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
        c = client()
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        r = c.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
        self.assertEqual(r.choices[0].finish_reason, "tool_calls")
        call = r.choices[0].message.tool_calls[0]
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), {"city": "Paris"})
        messages.append(r.choices[0].message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "18°C, sunny"})
        script({"text": "It is 18°C and sunny in Paris."})
        r2 = c.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
        self.assertEqual(r2.choices[0].message.content, "It is 18°C and sunny in Paris.")

    def test_streamed_tool_call(self):
        script({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
        stream = client().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
        name, args, call_id, finish = "", "", None, None
        for chunk in stream:
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    call_id = tc.id or call_id
                    if tc.function and tc.function.name:
                        name += tc.function.name
                    if tc.function and tc.function.arguments:
                        args += tc.function.arguments
                finish = choice.finish_reason or finish
        self.assertEqual(name, "get_weather")
        self.assertEqual(json.loads(args), {"city": "Oslo"})
        self.assertTrue(call_id)
        self.assertEqual(finish, "tool_calls")

    def test_models_list(self):
        ids = [m.id for m in client().models.list()]
        self.assertIn(MODEL, ids)

    def test_unknown_model_is_not_found(self):
        with self.assertRaises(openai.NotFoundError) as ctx:
            client().chat.completions.create(
                model="nobody/nothing", messages=[{"role": "user", "content": "x"}]
            )
        self.assertIn("nobody/nothing", str(ctx.exception))

    def test_bad_request(self):
        with self.assertRaises(openai.BadRequestError):
            client().chat.completions.create(model=MODEL, messages=[])

    def test_wrong_token_is_rejected(self):
        with self.assertRaises(openai.AuthenticationError):
            client(token="wrong-token-wrong-token").models.list()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
