"""The official MCP Python SDK (`mcp`) against baton's MCP server: `baton mcp`
over stdio and `baton serve`'s `/mcp` over streamable HTTP, each with the
`initialize` handshake (mode "legacy") and with the SDK's default discovery
(mode "auto").

Run by the Rust end-to-end suite (crates/baton-cli/tests/e2e/mcp_sdk.rs),
which starts the scripted model server (the embedder) and the real binary,
then runs this file with:

  BATON_BIN             the `baton` binary, started here as `baton mcp`
  BATON_CONFIG          its configuration (`[memory] embedder` is the scripted one)
  BATON_DATA_DIR        its data directory
  BATON_DATABASE_URL    its PostgreSQL database, when not SQLite
  BATON_WORKSPACE       the workspace `baton mcp` is given
  BATON_URL             the running `baton serve` (http://127.0.0.1:PORT)
  BATON_TOKEN           the bearer token it requires
  BATON_HTTP_WORKSPACE  the workspace `baton serve` was given
"""

import asyncio
import os
import sys
import unittest
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

TOOLS = {"append_session_log", "get_context", "read_tier", "remember", "search_memory", "update_briefing"}
TIERS = [
    "baton://tiers/PORTFOLIO_CONTEXT.md",
    "baton://tiers/PROJECT_CONTEXT.md",
    "baton://tiers/SESSION_BRIEFING.md",
    "baton://tiers/SESSION_LOG.md",
]


def stdio_server():
    passed = ("BATON_CONFIG", "BATON_DATA_DIR", "BATON_DATABASE_URL")
    env = {name: os.environ[name] for name in passed if name in os.environ}
    env["NO_COLOR"] = "1"
    return StdioServerParameters(
        command=os.environ["BATON_BIN"],
        args=["mcp", "--workspace", os.environ["BATON_WORKSPACE"]],
        env=env,
    )


def http_server(token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return streamable_http_client(
        os.environ["BATON_URL"] + "/mcp",
        http_client=httpx2.AsyncClient(headers=headers, timeout=30),
    )


def structured(result):
    """The structured answer of a tool call that must have succeeded."""
    assert not result.is_error, result
    return result.structured_content


def text(result):
    return "".join(block.text for block in result.content if block.type == "text")


async def exercise(test, client, workspace, label):
    """The continuity loop as an assistant runs it, tagged with `label` so
    the runs sharing a workspace tell their records apart."""
    if client.server_info is not None:
        test.assertEqual(client.server_info.name, "baton")
    test.assertIn("get_context", client.instructions or "")
    tools = await client.list_tools()
    test.assertEqual({tool.name for tool in tools.tools}, TOOLS)

    fact = f"{label}: the billing export runs nightly at 02:00 UTC"
    remembered = structured(await client.call_tool("remember", {"content": fact}))
    test.assertEqual(remembered["content"], fact)
    query = {"query": f"{label} billing export", "limit": 3}
    recall = structured(await client.call_tool("search_memory", query))
    test.assertEqual(recall["hits"][0]["id"], remembered["id"], recall)
    test.assertEqual(recall["vector_model"], "scripted/embedder")

    context = await client.call_tool("get_context", {"query": f"when does the {label} billing export run"})
    test.assertFalse(context.is_error, context)
    test.assertIn("nightly at 02:00", text(context))
    test.assertIn("memories", [part["source"] for part in context.structured_content["parts"]])

    appended = structured(
        await client.call_tool(
            "append_session_log",
            {
                "title": f"{label} session",
                "work_done": ["checked the billing export"],
                "decisions": ["keep 02:00: the warehouse is idle then"],
                "for_next_instance": ["move the export to the new bucket"],
            },
        )
    )
    test.assertGreaterEqual(appended["position"], 1)
    log = (Path(workspace) / "SESSION_LOG.md").read_text()
    test.assertIn(f" - {label} session\n", log)
    test.assertIn("### Decisions\n- keep 02:00: the warehouse is idle then\n", log)

    tier = await client.call_tool("read_tier", {"tier": "log"})
    test.assertIn(f"{label} session", text(tier))

    resources = await client.list_resources()
    test.assertEqual([str(r.uri) for r in resources.resources], TIERS)
    read = await client.read_resource("baton://tiers/SESSION_LOG.md")
    test.assertIn(f"{label} session", read.contents[0].text)

    refused = await client.call_tool("remember", {"content": "   "})
    test.assertTrue(refused.is_error)
    refused = await client.call_tool("read_tier", {"tier": "notes", "workspace": ".."})
    test.assertTrue(refused.is_error)


class McpSdk(unittest.TestCase):
    def run_with(self, server, workspace, label, mode):
        async def go():
            async with Client(server, mode=mode, read_timeout_seconds=30) as client:
                # Discovery settles on the newest revision, where there is
                # no handshake; "legacy" is the initialize handshake.
                if mode == "auto":
                    self.assertEqual(client.protocol_version, "2026-07-28")
                else:
                    self.assertNotEqual(client.protocol_version, "2026-07-28")
                await exercise(self, client, workspace, label)

        asyncio.run(go())

    def test_stdio_with_initialize(self):
        self.run_with(stdio_server(), os.environ["BATON_WORKSPACE"], "stdio-legacy", "legacy")

    def test_stdio_with_discovery(self):
        self.run_with(stdio_server(), os.environ["BATON_WORKSPACE"], "stdio-auto", "auto")

    def test_http_with_initialize(self):
        server = http_server(os.environ["BATON_TOKEN"])
        self.run_with(server, os.environ["BATON_HTTP_WORKSPACE"], "http-legacy", "legacy")

    def test_http_with_discovery(self):
        server = http_server(os.environ["BATON_TOKEN"])
        self.run_with(server, os.environ["BATON_HTTP_WORKSPACE"], "http-auto", "auto")

    def test_http_needs_the_token(self):
        async def go():
            async with Client(http_server(), mode="legacy", read_timeout_seconds=10) as client:
                await client.list_tools()

        with self.assertRaises(Exception):
            asyncio.run(go())
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        response = httpx2.post(os.environ["BATON_URL"] + "/mcp", json=message, timeout=10)
        self.assertEqual(response.status_code, 401)

if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
