"""A small HTTP server that keeps SageMaker's hosting contract, for local mode and tests.

    GET  /ping          200 once the model is loaded
    POST /invocations   text/csv or application/json rows in; predictions out (Accept: text/csv
                        or application/json)

It calls the same model_fn / input_fn / predict_fn / output_fn that SageMaker's XGBoost
container calls (inference.py, shipped inside the model), so what answers here answers
there. Bad input gets a 4xx with a one-line message and the server keeps serving; an
unexpected error gets a 500 and is logged. Port: --port, else SAGEMAKER_BIND_TO_PORT, else 8080.

    python serve.py --model-dir /opt/ml/model [--host 127.0.0.1] [--port 8080]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import logging
import os
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import inference  # beside this file: on the path when run as a script, and in the project's editable install

# This server answers HTTP itself: bad requests must raise RequestError here, even where
# SageMaker's container package happens to be importable (then inference.py would return them).
inference.ContainerResponse = None

LOG = logging.getLogger("serve")
DEFAULT_PORT = 8080
#: A refused body up to this size is read and dropped so that the client sees the 4xx answer.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


class InferenceServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, sized for benchmark and load-test concurrency."""

    daemon_threads = True
    # Benchmarks and load tests open many connections at once; the default backlog of 5 drops some.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], model_dir: str) -> None:
        self.handlers = handlers_for(model_dir)
        self.model = self.handlers.model_fn(model_dir)
        self.model_dir = model_dir
        super().__init__(address, InvocationHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class ModelLoadError(ValueError):
    """The model's own serving code cannot be imported; main() prints it as one line."""


def handlers_for(model_dir: str) -> ModuleType:
    """The model's own code/inference.py, as SageMaker's container loads it (SAGEMAKER_PROGRAM), else the
    one beside this file: a registered version answers with the serving code it was trained with."""
    shipped = Path(model_dir) / "code" / "inference.py"
    if not shipped.is_file():
        return inference
    spec = importlib.util.spec_from_file_location(f"model_inference_{abs(hash(str(shipped.resolve())))}", shipped)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the body runs
    # Its own folder on the path, as the container's SAGEMAKER_SUBMIT_DIRECTORY: it may import its neighbours.
    # Appended, not first, so this process's own modules (inference, serve) stay the ones it imports by name. One
    # process serves one model; loaded in one process, two models' neighbours of the same name would be one module.
    if str(shipped.parent) not in sys.path:
        sys.path.append(str(shipped.parent))
    try:
        spec.loader.exec_module(module)
    except ImportError as error:
        raise ModelLoadError(f"{shipped} cannot be loaded: {type(error).__name__}: {error} (the model ships the "
                             "modules beside its inference.py in code/; one it imports from elsewhere is not there)") from None
    module.ContainerResponse = None  # type: ignore[attr-defined]
    return module


class InvocationHandler(BaseHTTPRequestHandler):
    """Answers GET /ping and POST /invocations as SageMaker's hosting contract says."""

    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection for many requests
    # Headers and body leave in separate writes; with Nagle's algorithm on, the body then waits
    # for the client's delayed ACK: 40 ms a request on Linux loopback.
    disable_nagle_algorithm = True
    #: Seconds of silence before a connection is given up: a body that stops arriving gets a 408 instead of
    #: holding a thread for good, and an idle keep-alive connection closes (SageMaker allows an invocation 60 s).
    timeout = 60
    server: InferenceServer

    def do_GET(self) -> None:
        if self.path != "/ping":
            return self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path!r}; GET /ping or POST /invocations")
        self._send(HTTPStatus.OK, b"", "text/plain")

    def do_POST(self) -> None:
        if self.path != "/invocations":
            self._drain()
            return self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path!r}; POST /invocations")
        handlers = self.server.handlers
        self.body_read = False
        try:
            body = self._read_body()
            # Without a Content-Type SageMaker's container reads JSON; without an Accept it answers in
            # SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (text/csv in the registered model). serve.py does the same.
            payload = handlers.input_fn(body, self.headers.get("Content-Type") or inference.JSON)
            predictions = handlers.predict_fn(payload, self.server.model)
            answer, content_type = handlers.output_fn(predictions, self.headers.get("Accept"))
        except (inference.RequestError, handlers.RequestError) as error:
            if error.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE and not self.close_connection:
                # The answer first, then the unread body drained (up to a bound) before the connection closes:
                # a client that writes the whole body before reading still finds the 413 waiting.
                self.close_connection = True
                self._send(error.status, error.to_json().encode("utf-8"), inference.JSON)
                self.wfile.flush()
                return self._drain()
            return self._send(error.status, error.to_json().encode("utf-8"), inference.JSON)
        except Exception:
            LOG.exception("invocation failed")
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "the model failed on this request; see the server log")
        self._send(HTTPStatus.OK, answer.encode("utf-8"), content_type)

    def do_PUT(self) -> None:
        self._drain()
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed; GET /ping or POST /invocations")

    do_DELETE = do_PATCH = do_PUT

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise inference.RequestError("Content-Length is required (a non-negative integer)", HTTPStatus.LENGTH_REQUIRED)
        size = int(length)
        if size > inference.MAX_BODY_BYTES:
            raise self.too_large(size)
        self.body_read = True
        try:
            return self.rfile.read(size)
        except TimeoutError:
            self.close_connection = True
            raise inference.RequestError(f"the request body stopped arriving ({self.timeout:g} s without data; "
                                         f"Content-Length said {size} bytes)", HTTPStatus.REQUEST_TIMEOUT) from None

    @staticmethod
    def too_large(size: int) -> inference.RequestError:
        return inference.RequestError(f"request body is {size} bytes; the limit is {inference.MAX_BODY_BYTES} "
                                      "(SageMaker's 6 MB invocation payload): send fewer rows a request",
                                      HTTPStatus.REQUEST_ENTITY_TOO_LARGE)

    def handle_expect_100(self) -> bool:
        """A client that asks first (Expect: 100-continue, as curl does above 1 MB) hears 413 before sending a byte."""
        length = self.headers.get("Content-Length", "")
        if self.command == "POST" and length.isdigit() and int(length) > inference.MAX_BODY_BYTES:
            self.close_connection = True
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, self.too_large(int(length)).to_json().encode("utf-8"), inference.JSON)
            return False
        return super().handle_expect_100()

    def _drain(self) -> None:
        """Read and drop a body we will not use, so the client gets our answer instead of a reset."""
        if getattr(self, "body_read", False):
            return
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else 0
        if size > DRAIN_LIMIT_BYTES:  # not worth reading: answer, then hang up
            self.close_connection = True
            size = DRAIN_LIMIT_BYTES  # read what a well-behaved client has in flight, then hang up
        while size > 0:
            chunk = self.rfile.read(min(size, 1 << 16))
            if not chunk:
                break
            size -= len(chunk)

    def _error(self, status: int, message: str) -> None:
        self._send(status, inference.RequestError(message, status).to_json().encode("utf-8"), inference.JSON)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)


def start(model_dir: str, host: str = "127.0.0.1", port: int = 0) -> InferenceServer:
    """Serve in a background thread (port 0: any free port); stop with server.shutdown()."""
    server = InferenceServer((host, port), model_dir)
    threading.Thread(target=server.serve_forever, name="inference-server", daemon=True).start()
    return server


def start_process(model_dir: str, port: int, timeout: float = 60) -> subprocess.Popen:
    """serve.py in its own process on 127.0.0.1:port, returned once GET /ping answers 200 (local
    mode, tests, benchmarks). RuntimeError with the server's stderr if it exits or stays silent."""
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--model-dir", str(model_dir), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"serve.py exited with {process.returncode}: {stderr.strip()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"serve.py did not answer GET /ping on port {port} within {timeout:g} s")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = InferenceServer((args.host, args.port), args.model_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"serve: cannot load the model: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"serve: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    LOG.info("serving %s at %s", args.model_dir, server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
