"""mnistkit.serve: the drawing page's HTTP API on a tiny untrained model, ``main``, and the page in headless Chromium
(marked ``browser``)."""
import _thread
import argparse
import base64
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from synthetic import tiny_cnn

from mnistkit import config, deploy, images, models, serve


def digit_png(*, mode="L", size=(90, 120)):
    """A dark '1' with a serif on white paper (mode "L"), or on a transparent background (mode "RGBA")."""
    ink = np.zeros(size[::-1], bool)
    ink[15:105, 40:52] = True
    ink[15:27, 28:52] = True
    if mode == "RGBA":
        pixels = np.zeros((*ink.shape, 4), np.uint8)
        pixels[ink] = (20, 20, 20, 255)
    else:
        pixels = np.where(ink, 0, 255).astype(np.uint8)
    return png(pixels)


def png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def expected(model, body):
    """What ``predict`` computes from the same file: the 28x28 digit and the model's probabilities."""
    digit = images.to_mnist(images.load_image(io.BytesIO(body)))
    return digit, model.predict(digit[None], verbose=0)[0]


def post(url, body, *, path="predict", method="POST"):
    """``(status, JSON answer)`` of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url + path, data=body, method=method, headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def raw_request(server, head: bytes, *, body=b""):
    """``(status, JSON answer)`` of a hand-written request, to control its headers; reads the answer only."""
    with socket.create_connection(server.server_address[:2], timeout=10) as conn:
        conn.sendall(head + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(conn)
        response.begin()
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Two untrained models saved as the notebooks save them: plain, and with mnistkit's augmentation layer."""
    folder = tmp_path_factory.mktemp("models")
    plain = tiny_cnn((4,), seed=0)
    augmented = tiny_cnn((4,), augment=models.augmentation(seed=0), seed=0)
    plain.save(folder / "plain.keras")
    augmented.save(folder / "augmented.keras")
    return {"plain": folder / "plain.keras", "augmented": folder / "augmented.keras"}


@pytest.fixture(scope="module")
def model(model_files):
    return deploy.load_model(model_files["plain"])


def running(server):
    """Start ``server`` in a daemon thread; returns a function that stops it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(10)
    return stop


@pytest.fixture(scope="module")
def server(model):
    server = serve.make_server(model)
    stop = running(server)
    yield server
    stop()


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_a_drawing_gets_the_models_probabilities_and_the_image_it_saw(server, model, mode):
    body = digit_png(mode=mode)
    status, answer = post(server.url, body)
    digit, proba = expected(model, body)
    assert status == 200 and set(answer) == {"digit", "probabilities", "image"}
    np.testing.assert_array_equal(np.array(answer["image"], np.float32), digit)
    np.testing.assert_allclose(answer["probabilities"], proba, atol=1e-5)
    assert answer["digit"] == int(proba.argmax())


def test_an_augmented_model_predicts_as_in_inference_mode(model_files):
    augmented = deploy.load_model(model_files["augmented"])
    server = serve.make_server(augmented)
    stop = running(server)
    try:
        answers = [post(server.url, digit_png())[1]["probabilities"] for _ in range(2)]
    finally:
        stop()
    np.testing.assert_allclose(answers[0], expected(augmented, digit_png())[1], atol=1e-5)
    assert answers[0] == answers[1], "augmentation must not act while serving"


def test_concurrent_requests_all_get_the_same_answer(server):
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(server.url, digit_png()), range(8)))
    assert {status for status, _ in answers} == {200}
    assert all(answer == answers[0][1] for _, answer in answers)


def test_a_20_mb_upload_gets_413_and_the_server_keeps_serving(server):
    status, answer = post(server.url, b"\0" * (20 * 2**20))
    assert status == 413 and "20,971,520 bytes" in answer["error"] and "2,097,152" in answer["error"]
    assert post(server.url, digit_png())[0] == 200


def test_413_is_sent_before_the_body_is_read(server):
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 20971520"
    status, answer = raw_request(server, head)  # no body sent at all: a server waiting for it would time out
    assert status == 413 and "bytes" in answer["error"]


@pytest.mark.parametrize("body, status, message", [
    (b"this is not a PNG", 400, "not an image"),
    (digit_png()[:60], 400, "cannot be decoded"),
    (png(np.full((50, 50), 255, np.uint8)), 422, "no digit found"),
    (png(np.zeros((1, 1), np.uint8)), 422, "the image is 1x1 pixels: too thin to hold a digit"),
    (png(np.zeros((5000, 4000), np.uint8)), 413, "4000x5000 pixels"),
])
def test_a_bad_image_gets_a_message_and_the_server_keeps_serving(server, body, status, message):
    got, answer = post(server.url, body)
    assert got == status and message in answer["error"] and "Traceback" not in answer["error"]
    assert post(server.url, digit_png())[0] == 200


def test_an_image_past_pils_own_pixel_limit_gets_413_not_not_an_image(server, monkeypatch):
    """PIL refuses images past twice its MAX_IMAGE_PIXELS as it reads the header: still too many pixels, not junk."""
    from PIL import Image
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 90x120 drawing is then past PIL's 2 x 100
    got, answer = post(server.url, digit_png())
    assert got == 413 and "more pixels than the most accepted" in answer["error"]


@pytest.mark.parametrize("headers, status, message", [
    (b"", 411, "Content-Length header is required"),
    (b"\r\nContent-Length: lots", 400, "not a number"),
    (b"\r\nContent-Length: -5", 400, "not a number"),
    (b"\r\nContent-Length: 0", 400, "the body is empty; POST the drawing as PNG bytes"),
    (b"\r\nTransfer-Encoding: chunked", 411, "not chunked"),
])
def test_a_missing_or_bad_content_length_is_refused(server, headers, status, message):
    got, answer = raw_request(server, b"POST /predict HTTP/1.1\r\nHost: x" + headers)
    assert got == status and message in answer["error"]


def test_a_body_shorter_than_its_content_length_is_refused_when_the_client_stops(server):
    with socket.create_connection(server.server_address[:2], timeout=10) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n\x89PNG")
        conn.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(conn)
        response.begin()
        assert response.status == 400 and "got 4" in json.loads(response.read())["error"]


def test_a_client_that_stalls_mid_body_gets_408(server, monkeypatch):
    monkeypatch.setattr(serve._Handler, "timeout", 0.5)
    with socket.create_connection(server.server_address[:2], timeout=10) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n\x89PNG")
        response = http.client.HTTPResponse(conn)
        response.begin()
        assert response.status == 408 and "did not arrive" in json.loads(response.read())["error"]


@pytest.mark.parametrize("method, path, status, allow", [
    ("GET", "/nothing-here", 404, None),
    ("POST", "/nothing-here", 404, None),
    ("GET", "/predict", 405, "POST"),
    ("DELETE", "/predict", 405, "POST"),
    ("POST", "/", 405, "GET"),
    ("PUT", "/health", 405, "GET"),
])
def test_unknown_paths_get_404_and_wrong_methods_405(server, method, path, status, allow):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        conn.request(method, path, body=b"" if method != "GET" else None)
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == status and answer["error"]
    assert response.getheader("Allow") == allow


def test_the_page_and_health(server, model):
    with urllib.request.urlopen(server.url, timeout=10) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assert 'id="pad"' in page and 'id="clear"' in page and 'id="preview"' in page
    assert "://" not in page, "the page must load nothing from elsewhere: the machine may be offline"
    with urllib.request.urlopen(server.url + "health?x=1", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok", "model": model.name}


class BrokenModel:
    name, input_shape = "broken", (None, 28, 28)

    def __call__(self, x, training=None):
        raise RuntimeError("secret internal detail")


def test_a_failing_model_gets_500_without_a_traceback_and_the_server_survives(capfd):
    server = serve.make_server(BrokenModel())
    stop = running(server)
    try:
        status, answer = post(server.url, digit_png())
        assert status == 500 and "RuntimeError" in answer["error"] and "secret" not in answer["error"]
        assert post(server.url, b"", path="health", method="GET") == (200, {"status": "ok", "model": "broken"})
    finally:
        stop()
    assert "secret internal detail" in capfd.readouterr().err, "the traceback goes to the server's terminal"


def test_make_server_checks_its_arguments():
    with pytest.raises(ValueError, match="auto, yes, no"):
        serve.make_server(BrokenModel(), invert="maybe")
    wrong = BrokenModel()
    wrong.input_shape = (None, 32, 32, 3)
    with pytest.raises(ValueError, match="28x28"):
        serve.make_server(wrong)


def parse(*argv):
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser.parse_args(argv)


def test_add_arguments_defaults_and_port_checks():
    args = parse()
    assert (args.model, args.host, args.port, args.invert) == (None, "127.0.0.1", 8000, "auto")
    for bad in ("-1", "70000", "http"):
        with pytest.raises(SystemExit):
            parse("--port", bad)


@pytest.mark.parametrize("name, message", [("missing.keras", "no such model file"),
                                           ("model.h5", "not a .keras model file")])
def test_main_fails_in_one_line_when_the_model_cannot_be_loaded(tmp_path, capsys, name, message):
    (tmp_path / "model.h5").write_bytes(b"not a model")
    assert serve.main(parse("--model", str(tmp_path / name), "--port", "0")) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize("last, message", [(dict(units=10), "not probabilities.*activation='softmax'"),
                                           (dict(units=3, activation="softmax"), r"maps \(28, 28\) to \(3,\)")])
def test_main_refuses_what_predict_refuses_before_serving(tmp_path, capsys, monkeypatch, last, message):
    """A model with no softmax would show negative "probabilities" on the page, and a 3-class one three bars."""
    import keras

    monkeypatch.setattr(serve, "make_server", lambda *args, **kwargs: pytest.fail("served it"))
    path = tmp_path / "not_a_digit_classifier.keras"
    keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(**last)]).save(path)
    assert serve.main(parse("--model", str(path), "--port", "0")) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and re.search(message, err)


def test_main_without_a_saved_model_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    assert serve.main(parse()) == 2
    err = capsys.readouterr().err  # the line predict prints too: where it looked, and which notebooks save a model
    assert err == f"error: {config.no_model_message()}\n" and f"no trained model found in {tmp_path};" in err


def test_main_warns_when_listening_beyond_this_machine(tmp_path, capsys):
    assert serve.main(parse("--model", str(tmp_path / "missing.keras"), "--host", "0.0.0.0")) == 2
    warning, error = capsys.readouterr().err.splitlines()
    assert warning.startswith("warning: --host 0.0.0.0 is not a loopback address") and error.startswith("error: ")


def test_main_says_when_the_port_is_taken(model_files, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve.main(parse("--model", str(model_files["plain"]), "--port", str(port))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1 port {port}" in err


def test_main_loads_the_exported_model_once_serves_it_and_stops_on_ctrl_c(model_files, tmp_path, monkeypatch,
                                                                          capsys):
    (tmp_path / "export").mkdir()
    shutil.copy(model_files["augmented"], tmp_path / "export" / "mnist_best.keras")
    monkeypatch.setenv("MNISTKIT_ARTIFACTS", str(tmp_path))
    loads, servers = [], []
    monkeypatch.setattr(deploy, "load_model", lambda path: loads.append(path) or models_load(path))
    monkeypatch.setattr(serve, "make_server", lambda *a, **k: servers.append(make_server(*a, **k)) or servers[-1])
    answers = []
    # Ctrl-C is simulated with _thread.interrupt_main, which does nothing where SIGINT is ignored (a background job
    # of a non-interactive shell, as CI may be): give the test Python's own handler, as a terminal would have
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        client = threading.Thread(target=use_then_interrupt, args=(servers, answers), daemon=True)
        client.start()
        assert serve.main(parse("--port", "0")) == 0
        client.join(10)
    finally:
        signal.signal(signal.SIGINT, previous)
    out = capsys.readouterr().out
    path = tmp_path / "export" / "mnist_best.keras"
    assert loads == [path] and [status for status, _ in answers] == [200, 200, 200]
    assert out == f"serving {path} on {servers[0].url}\nstopped serving (Ctrl-C)\n"


models_load, make_server = deploy.load_model, serve.make_server


def use_then_interrupt(servers, answers, *, timeout=60):
    """Wait for ``main``'s server, send it three drawings, then press Ctrl-C (KeyboardInterrupt in the main thread)."""
    deadline = time.monotonic() + timeout
    while not servers and time.monotonic() < deadline:
        time.sleep(0.05)
    if not servers:
        return  # main failed before serving; it has returned already, so nothing is left to interrupt
    try:
        answers.extend(post(servers[0].url, digit_png()) for _ in range(3))
    finally:
        _thread.interrupt_main()


def test_importing_serve_does_not_import_tensorflow():
    code = "import sys, mnistkit.serve; print('tensorflow' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.stdout.strip() == "False", result.stderr


# ---- the page in a real browser ------------------------------------------------------------------------------------

INSTALL = "apt-get install chromium chromium-driver; pip install selenium"
PAGE_TIMEOUT = 30


@pytest.fixture
def browser():
    """Headless Chromium driven by Selenium, with the system's chromedriver (Selenium Manager downloads nothing)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium is not installed ({INSTALL})")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip(f"chromium or chromedriver is not installed ({INSTALL})")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=900,700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def draw_a_one(driver, *, pointer="mouse"):
    """Press on the pad's upper middle, drag down slowly (several throttled predictions), release."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = driver.find_element("id", "pad")
    chain = ActionChains(driver, duration=20, devices=[PointerInput(pointer, pointer)])
    chain.move_to_element_with_offset(pad, 10, -90).click_and_hold()
    for _ in range(9):
        chain.move_by_offset(-2, 20).pause(0.05)
    chain.release().perform()


def wait_for_answer(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: d.execute_script("return document.body.dataset.state === 'ready' && window.lastResult !== null"))
    return driver.execute_script("return window.lastResult")


@pytest.mark.browser
@pytest.mark.parametrize("pointer", ["mouse", "touch"])
def test_drawing_on_the_page_shows_the_models_probabilities(browser, server, model, pointer):
    browser.get(server.url)
    draw_a_one(browser, pointer=pointer)
    result = wait_for_answer(browser)
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#bars li')].map(li => [li.dataset.probability,"
        " li.querySelector('.pct').textContent])")
    proba = np.array(result["probabilities"])
    np.testing.assert_allclose([float(p) for p, _ in shown], proba, rtol=1e-6)
    assert [text for _, text in shown] == [f"{100 * p:.1f}%" for p in proba]
    assert browser.find_element("id", "digit").text == str(result["digit"]) == str(int(proba.argmax()))
    assert "Looks like a" in browser.find_element("id", "status").text

    seen = np.array(result["image"], np.float32)
    np.testing.assert_allclose(model.predict(seen[None], verbose=0)[0], proba, atol=1e-5)
    drawing = base64.b64decode(browser.execute_script("return pad.toDataURL('image/png')").split(",", 1)[1])
    np.testing.assert_allclose(seen, expected(model, drawing)[0], atol=1e-6)  # the answer is for the last stroke

    browser.find_element("id", "clear").click()
    assert browser.execute_script("return window.lastResult") is None
    assert browser.find_element("id", "pct-0").text == "–"
