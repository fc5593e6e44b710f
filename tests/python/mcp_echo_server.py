"""A small MCP server over stdio, built with the official Python SDK (`mcp`),
that baton-mcp's integration tests spawn as a real peer.

Tools: `echo` (returns its text, read-only), `add` (structured result),
`fail` (a tool error, isError), `crash` (the process dies mid-call), and
`secret` (returns the BATON_TEST_SECRET variable, to prove `env` reaches the
server). It writes one line to stderr at start so the tests can check that
stderr is captured rather than printed.
"""

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("baton-test-echo")


class Sum(BaseModel):
    sum: int


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def add(a: int, b: int) -> Sum:
    """Add two integers."""
    return Sum(sum=a + b)


@server.tool()
def fail(reason: str = "failed on purpose") -> str:
    """Always fail with the given reason."""
    raise ToolError(reason)


@server.tool()
def crash() -> str:
    """Kill the server process in the middle of the call."""
    sys.stderr.write("crashing now\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
def secret() -> str:
    """Return the BATON_TEST_SECRET environment variable."""
    return os.environ.get("BATON_TEST_SECRET", "")


if __name__ == "__main__":
    sys.stderr.write("mcp_echo_server: ready on stdio\n")
    sys.stderr.flush()
    server.run("stdio")
