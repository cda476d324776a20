"""``kbqa serve``, ``kbqa model-server`` and ``kbqa convert-gguf``: the processes kbqa runs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.answers import console, out

if TYPE_CHECKING:
    from core.settings import Settings


def model_server() -> None:
    """Run the embedded chat server in the foreground (point KBQA_LLM__BASE_URL at it)."""
    from core.settings import get_settings
    from generation.server import make_server

    settings = get_settings()
    server = make_server(settings.llm, settings.models_dir, settings.data_dir / "logs")
    with server:
        out.print(
            f"chat server at {server.base_url} (model {settings.llm.served_name}); Ctrl-C stops it."
            f" Point KBQA_LLM__BASE_URL at it, with KBQA_LLM__DIALECT={server.dialect}"
        )
        try:
            assert server.process is not None
            server.process.wait()
        except KeyboardInterrupt:
            pass


def convert_gguf(
    gguf: Annotated[
        Path | None, typer.Argument(help="A GGUF file; default: the packaged local model.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default: models/<name>-hf).")
    ] = None,
    dtype: Annotated[str, typer.Option(help="bfloat16, float16 or float32.")] = "bfloat16",
) -> None:
    """Convert a GGUF model to a Hugging Face folder for vLLM (KBQA_LLM__SERVER=vllm)."""
    from core.settings import get_settings
    from generation import convert
    from generation.assets import PACKAGED_MODELS

    settings = get_settings()
    if gguf is None and out_dir is None:
        folder = convert.ensure_hf_model(
            PACKAGED_MODELS[settings.llm.local_model], settings.models_dir, dtype
        )
    elif gguf is None:
        console.print("[red]error:[/red] --out needs a GGUF file to convert")
        raise typer.Exit(code=1)
    else:
        target = out_dir or settings.models_dir / f"{gguf.stem}-hf"
        folder = convert.convert_gguf(gguf, target, dtype)
    out.print(folder)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (KBQA_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (KBQA_API__PORT).")] = None,
    ui: Annotated[bool, typer.Option(help="Start the web UI too (KBQA_UI__ENABLED).")] = True,
) -> None:
    """Run the HTTP API, the chat model server and the web UI; Ctrl-C stops them all."""
    import uvicorn

    from api.app import create_app
    from core.settings import ApiSettings, get_settings

    settings = get_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    api = ApiSettings.model_validate({**settings.api.model_dump(), **overrides})
    settings = settings.model_copy(update={"api": api})
    logging.getLogger("api").setLevel(logging.INFO)
    logging.getLogger("kbqa").setLevel(logging.INFO)
    if not api.auth_enabled:
        console.print("[yellow]no API keys set: the API is open to this machine only[/yellow]")
    console.print(f"kbqa API at http://{api.host}:{api.port} (docs: /docs)")
    console.print("the models load in the background; /health says when they are ready")
    web = _start_ui(settings) if ui and settings.ui.enabled else None
    stops = [lambda: _stop(web)] if web is not None else []
    try:
        app = create_app(settings, on_shutdown=stops)
        uvicorn.run(app, host=api.host, port=api.port, timeout_graceful_shutdown=5)
    finally:  # also when the API fails to start
        if web is not None:
            _stop(web)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_ui(settings: Settings) -> subprocess.Popen[bytes]:
    """Streamlit on ui/app.py, pointed at this API with its first key."""
    import ui as ui_package

    api, ui = settings.api, settings.ui
    script = Path(ui_package.__file__ or "").with_name("app.py")
    client_host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
    env = {
        **os.environ,
        "KBQA_UI__API_URL": ui.api_url or f"http://{client_host}:{api.port}",
        "KBQA_UI__API_KEY": ui.api_key or next(iter(api.keys), ""),
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", ui.host, "--server.port", str(ui.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
        "--server.maxUploadSize", str(max(1, int(settings.ingest.max_file_mb))),
    ]  # fmt: skip
    log_path = settings.data_dir / "logs" / "ui.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"kbqa UI at http://{ui.host}:{ui.port} (log: {log_path})")
    with log_path.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
