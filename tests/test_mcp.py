"""The app as an MCP server: agents list `generate` and call it, here on loopback."""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import httpx
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ["seed_audio", "architecture", "temperature", "seconds", "top_k", "top_p",
              "random_seed", "adapt_steps", "render"]

pytest.importorskip("mcp", reason="pip install 'gradio[mcp]' (requirements.txt has it)")


@pytest.fixture(scope="module")
def mcp_url(app_module, app_generators):
    demo = app_module.build_demo(app_generators, [], streaming=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                mcp_server=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


def test_schema_lists_generate_with_every_parameter_documented(mcp_url: str) -> None:
    schema = httpx.get(mcp_url + "/gradio_api/mcp/schema", timeout=30).json()
    assert [tool["name"] for tool in schema] == ["generate"]  # UI-only events are no tools
    tool = schema[0]
    properties = tool["inputSchema"]["properties"]
    assert list(properties) == PARAMETERS
    assert tool["inputSchema"]["required"] == ["seed_audio"]
    for name, spec in properties.items():
        assert len(spec.get("description", "")) > 15, (name, spec)
    assert "lstm" in properties["architecture"]["description"]
    assert "WAV" in tool["description"] and "spectrogram" in tool["description"]


def test_call_generate_over_mcp(mcp_url: str, seed_wav: Path, tmp_path: Path) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    # Gradio refuses loopback URLs for file inputs (SSRF guard): a data: URI is what works.
    seed = "data:audio/wav;base64," + base64.b64encode(seed_wav.read_bytes()).decode()
    messages: list[str] = []

    async def progress(done, total, message) -> None:
        messages.append(str(message))

    async def call():
        async with streamable_http_client(mcp_url + "/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                assert [t.name for t in tools] == ["generate"]
                return await session.call_tool(
                    "generate", {"seed_audio": seed, "seconds": 2, "random_seed": 5,
                                 "architecture": "lstm"}, progress_callback=progress)

    result = asyncio.run(call())
    assert not result.isError, result.content
    texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    wav_url = next(t for t in texts if t.strip().endswith(".wav"))
    wav = tmp_path / "out.wav"
    wav.write_bytes(httpx.get(wav_url.strip(), timeout=30).content)
    audio, sr = sf.read(wav)
    assert 4.0 < len(audio) / sr < 5.5  # the seed's tail (<= 3 s) + 2 s new
    info = next(t for t in texts if "summary" in t)
    assert "random seed 5" in info and "real time" in info  # the summary line
