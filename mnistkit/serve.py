"""A local web page where you draw a digit and watch the model's ten probabilities (``python -m mnistkit serve``).

The page (``static/serve.html``, plain JavaScript, no external assets) posts the drawing as PNG bytes to
``POST /predict`` at the end of each stroke and every 150 ms while drawing. The server preprocesses it exactly as
``predict`` does (``images.load_image``, then ``images.to_mnist``) and answers JSON
``{"digit": int, "probabilities": [10 floats], "image": [28 rows of 28 grey levels]}``, the image being what the
model saw. ``GET /health`` answers ``{"status": "ok", "model": name}``. Errors are JSON ``{"error": message}``.

Built on the standard library's ``http.server`` for one person on this machine: it listens on 127.0.0.1 unless
told otherwise, and has no login.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from . import config, images
from .checks import port_number

MAX_BYTES = 2 * 2**20             # the page's drawings are a few kB; a photo has no business here
MAX_PIXELS = 4096 * 4096          # a small PNG can still unpack into a huge image
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
LINGER_SECONDS = 1.0              # after a 413, how long to discard what the client still sends
ROUTES = {"/": {"GET": "_send_page"}, "/health": {"GET": "_send_health"}, "/predict": {"POST": "_send_prediction"}}


class RequestError(Exception):
    """A request the server refuses; ``status`` is the HTTP status, the message says why and what to send."""

    def __init__(self, status: int, message: str, *, body_unread: bool = False):
        super().__init__(message)
        self.status, self.body_unread = status, body_unread


class DigitServer(ThreadingHTTPServer):
    """An HTTP server holding one model; each request runs in its own thread, predictions one at a time.

    Build it with ``make_server``; ``url`` is where the page is.
    """

    daemon_threads = True

    def __init__(self, model, *, host: str, port: int, invert: str, max_bytes: int):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.model, self.invert, self.max_bytes = model, invert, max_bytes
        self.input_shape = _input_shape(model)
        self.page = resources.files(__package__).joinpath("static", "serve.html").read_bytes()
        self.lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host, which can stall on an offline machine."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def classify(self, body: bytes) -> dict:
        """The answer to ``POST /predict``: preprocess the image file in ``body`` and predict its digit."""
        try:
            digit = images.to_mnist(_decode_image(body), invert=self.invert)
        except ValueError as exc:  # blank page, or a 1-pixel-wide image
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
        with self.lock:
            proba = np.asarray(self.model(digit.reshape(self.input_shape), training=False))[0]
        return {"digit": int(proba.argmax()), "probabilities": proba.tolist(), "image": digit.tolist()}

    def __repr__(self) -> str:
        return f"DigitServer(model={self.model.name!r}, url={self.url!r}, invert={self.invert!r})"


def make_server(model, *, host: str = "127.0.0.1", port: int = 0, invert: str = "auto",
                max_bytes: int = MAX_BYTES) -> DigitServer:
    """A server for ``model``, bound and ready; run ``serve_forever()`` (in a thread, for tests).

    Parameters
    ----------
    model : keras.Model
        Takes a batch of 28x28 images (or 784 values) and returns ten probabilities.
    host : str, default="127.0.0.1"
        Address to listen on; only this machine can reach a loopback address.
    port : int, default=0
        0 picks a free port; ``server.url`` says which.
    invert : {"auto", "yes", "no"}, default="auto"
        Digit polarity, as for ``images.to_mnist``; the page draws dark ink on white, which "auto" detects.
    max_bytes : int, default=MAX_BYTES
        Largest request body accepted; a larger one gets 413 before its body is read.

    Raises
    ------
    ValueError
        If ``invert`` is not a valid choice or the model does not take 28x28 images.
    OSError
        If the address cannot be bound (port in use, unknown host).
    """
    if invert not in images.INVERT:
        raise ValueError(f"invert={invert!r} is not valid; choose one of: {', '.join(images.INVERT)}")
    return DigitServer(model, host=host, port=port, invert=invert, max_bytes=max_bytes)


def _decode_image(body: bytes) -> np.ndarray:
    """An image file's bytes as ``images.load_image`` reads a file: 2-d grey levels in [0, 1], transparency white.

    Raises
    ------
    RequestError
        400 if the bytes are not a PNG, JPEG, GIF, BMP or WebP image; 413 if the image has too many pixels.
    """
    from PIL import Image

    try:
        with Image.open(BytesIO(body), formats=FORMATS) as image:
            width, height = image.size
    except Image.DecompressionBombError:  # past PIL's own, larger limit, read from the header
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the image has more pixels than the most accepted, "
                                                                f"{MAX_PIXELS:,}") from None
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, ValueError ... on bytes it cannot parse
        raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not an image ({', '.join(FORMATS)}): "
                                                   f"{type(exc).__name__}") from exc
    if width * height > MAX_PIXELS:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the image is {width}x{height} pixels; the most "
                                                                f"accepted is {MAX_PIXELS:,} pixels")
    try:
        return images.load_image(BytesIO(body))
    except Exception as exc:  # a valid header over damaged or truncated pixel data
        raise RequestError(HTTPStatus.BAD_REQUEST, f"the image cannot be decoded: {type(exc).__name__}: "
                                                   f"{str(exc)[:200]}") from exc


class _Handler(BaseHTTPRequestHandler):
    """Routes requests (``ROUTES``) and turns every failure into a JSON error, never a traceback."""

    server_version = "mnistkit-serve"
    timeout = 30  # seconds a client may take to send its request before the thread gives up on it

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._route("DELETE")

    def do_PATCH(self):
        self._route("PATCH")

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path not in ROUTES:
                raise RequestError(HTTPStatus.NOT_FOUND, f"nothing at {path}; the page is GET /, predictions POST "
                                                         f"/predict")
            allowed = ROUTES[path]
            if method not in allowed:
                self.allow = ", ".join(allowed)
                raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} {path} is not allowed; use {self.allow}")
            getattr(self, allowed[method])()
        except RequestError as exc:
            self._send_json({"error": str(exc)}, status=exc.status)
            if exc.body_unread:
                self._discard_body()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nobody is left to answer
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self._send_json({"error": f"internal error ({type(exc).__name__}); the server's terminal shows the "
                                      f"traceback"}, status=HTTPStatus.INTERNAL_SERVER_ERROR)

    def _send_page(self) -> None:
        self._send(self.server.page, content_type="text/html; charset=utf-8")

    def _send_health(self) -> None:
        self._send_json({"status": "ok", "model": self.server.model.name})

    def _send_prediction(self) -> None:
        self._send_json(self.server.classify(self._read_body()))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the image with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if not re.fullmatch(r"[0-9]{1,12}", length.strip()):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"Content-Length {length[:40]!r} is not a number of bytes")
        size, limit = int(length), self.server.max_bytes
        if size > limit:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the upload is {size:,} bytes; the most "
                                                                    f"accepted is {limit:,} bytes", body_unread=True)
        try:
            body = self.rfile.read(size)
        except TimeoutError:
            raise RequestError(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {self.timeout} s") from None
        if size == 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body is empty; POST the drawing as PNG bytes")
        if len(body) < size:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"expected {size:,} bytes of image, got {len(body):,}; "
                                                       f"POST the drawing as PNG bytes")
        return body

    def _discard_body(self) -> None:
        """Throw away, for at most ``LINGER_SECONDS``, what the client still sends after a 413.

        Clients such as urllib send the whole body before reading the answer; closing the socket on unread data
        would reset the connection and lose the 413 they are about to read. Nothing read here is kept.
        """
        deadline = time.monotonic() + LINGER_SECONDS
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.rfile.read1(2**16):
                    break
        except OSError:  # the timeout, or the client hung up
            pass

    def _send_json(self, payload: dict, *, status: int = HTTPStatus.OK) -> None:
        self._send(json.dumps(payload).encode(), status=status, content_type="application/json")

    def _send(self, body: bytes, *, status: int = HTTPStatus.OK, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                                                    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", self.allow)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-") -> None:
        """Log refused and failed requests only: the page sends several predictions a second while drawing."""
        if isinstance(code, int) and code >= 400:
            super().log_request(code, size)


def _input_shape(model) -> tuple[int, ...]:
    """The shape of a batch of one image for ``model``: ``(1, 28, 28)``, ``(1, 28, 28, 1)`` or ``(1, 784)``."""
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or None in shape[1:] or int(np.prod(shape[1:])) != images.SIZE ** 2:
        raise ValueError(f"the model takes inputs of shape {shape}; serve needs a model of 28x28 images")
    return (1, *shape[1:])


def add_arguments(parser) -> None:
    """Add ``serve``'s options to an argparse parser: ``--model``, ``--host``, ``--port``, ``--invert``."""
    parser.add_argument("--model", help=config.MODEL_HELP)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on; 0 picks a free one (default 8000)")
    parser.add_argument("--invert", choices=images.INVERT, default="auto",
                        help="digit polarity, as for predict: auto-detect (default), yes or no")


def _port(text: str) -> int:
    value = port_number(text, allow_zero=True)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; use 1-65535, or 0 for a free port")
    return value


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def main(args) -> int:
    """Run ``serve``: load the model once, print the page's URL, serve until Ctrl-C.

    ``args`` holds the options of ``add_arguments``. Returns 0 after Ctrl-C, 2 when the model cannot be loaded
    or the address cannot be bound (one line on stderr, no traceback).
    """
    from . import deploy

    path = Path(args.model) if args.model else config.default_model()
    if path is None:
        print(f"error: {config.no_model_message()}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host):
        print(f"warning: --host {args.host} is not a loopback address: anyone who can reach this machine can use "
              f"the page", file=sys.stderr)
    try:
        model = deploy.load_model(path)
        deploy.check_classifier(model, where=str(path))  # what predict checks: 28x28 images in, 10 classes out,
        deploy.predict_probabilities(model, np.zeros((1, 28, 28), np.float32))  # and probabilities (a softmax)
        server = make_server(model, host=args.host, port=args.port, invert=args.invert)
    except (deploy.ModelLoadError, ValueError) as exc:
        print(f"error: {exc}" if isinstance(exc, deploy.ModelLoadError) else f"error: {path}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host} port {args.port}: {exc.strerror or exc}; choose another with "
              f"--host or --port (0 picks a free port)", file=sys.stderr)
        return 2
    return _serve_until_interrupted(server, path)


def _serve_until_interrupted(server: DigitServer, path: Path) -> int:
    print(f"serving {path} on {server.url}", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped serving (Ctrl-C)", flush=True)
    return 0
