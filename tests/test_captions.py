"""Captions through the real openai client against OpenAI-compatible servers on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openai")

from localhttp import completion as _completion  # noqa: E402
from localhttp import loopback_only, serve  # noqa: E402, F401 (autouse: only 127.0.0.1)
from localhttp import reply as _reply  # noqa: E402

from summarizer.captions import (  # noqa: E402
    CaptionError,
    CaptionSettings,
    Frame,
    caption_frames,
    endpoint,
    read_captions,
    spaced,
    summarize_captions,
    write_captions,
)
from summarizer.errors import SettingsError  # noqa: E402


def _frames(n: int, step_s: float = 1.0) -> list[Frame]:
    rng = np.random.default_rng(0)
    return [
        Frame(i * step_s, i * 25, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), f"f{i}.jpg")
        for i in range(n)
    ]


@pytest.fixture
def good_server(tmp_path):
    seen: list[dict] = []

    def chat(h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        seen.append({"auth": h.headers.get("Authorization"), "body": body})
        content = body["messages"][0]["content"]
        images = [p for p in content if p["type"] == "image_url"]
        text = next(p["text"] for p in content if p["type"] == "text")
        if not images:  # the summary request
            _reply(h, 200, _completion("A whole video."))
        elif len(images) == 1:
            _reply(h, 200, _completion(f"frame number {len(seen)}"))
        else:
            assert "JSON array" in text
            _reply(h, 200, _completion(json.dumps([f"batch item {i}" for i in range(len(images))])))

    with serve(tmp_path, {"/v1/chat/completions": chat}) as base:
        yield base + "/v1", seen


def test_request_shape_model_key_and_images(good_server, monkeypatch):
    base, seen = good_server
    monkeypatch.setenv("OPENAI_MODEL", "tiny-vlm")
    monkeypatch.setenv("OPENAI_BASE_URL", base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    settings = CaptionSettings(min_interval_s=2.0)
    frames = spaced(_frames(6), settings.min_interval_s, settings.max_frames)
    assert [f.time_s for f in frames] == [0.0, 2.0, 4.0]  # the minimum interval holds
    caps = caption_frames(frames, settings, endpoint(settings))
    assert [c.text for c in caps] == ["frame number 1", "frame number 2", "frame number 3"]
    assert [c.frame for c in caps] == [0, 50, 100] and caps[1].image == "f2.jpg"
    req = seen[0]
    assert req["auth"] == "Bearer sk-test-123"
    assert req["body"]["model"] == "tiny-vlm"
    parts = req["body"]["messages"][0]["content"]
    image = [p for p in parts if p["type"] == "image_url"]
    assert len(image) == 1 and image[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert summarize_captions(caps, settings, endpoint(settings)) == "A whole video."


def test_batches_and_flags_win_over_environment(good_server, monkeypatch, tmp_path):
    base, seen = good_server
    monkeypatch.setenv("OPENAI_MODEL", "other")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    settings = CaptionSettings(base_url=base, model="tiny-vlm", batch_size=3, min_interval_s=0)
    caps = caption_frames(_frames(5), settings, endpoint(settings, api_key="k2"))
    assert [c.text for c in caps] == [f"batch item {i}" for i in (0, 1, 2, 0, 1)]
    assert len(seen) == 2 and seen[0]["auth"] == "Bearer k2"
    assert seen[0]["body"]["model"] == "tiny-vlm"
    path = write_captions(tmp_path / "captions.jsonl", caps)
    rows = read_captions(path)
    assert [r["time_s"] for r in rows] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rows[0]["text"] == "batch item 0" and rows[0]["frame"] == 0


def test_a_server_that_does_not_answer_times_out_with_one_message(tmp_path):
    def slow(h):
        time.sleep(3)
        _reply(h, 200, _completion("too late"))

    with serve(tmp_path, {"/v1/chat/completions": slow}) as base:
        settings = CaptionSettings(base_url=base + "/v1", model="m", timeout_s=0.3, retries=1)
        t0 = time.perf_counter()
        with pytest.raises(CaptionError) as exc:
            caption_frames(_frames(2, 5.0), settings, endpoint(settings))
        assert time.perf_counter() - t0 < 10
    msg = str(exc.value)
    assert "did not answer within 0.3 s" in msg and len(msg.splitlines()) == 1
    assert exc.value.done == []


@pytest.mark.parametrize(
    "body,ctype",
    [(b"<html>hello</html>", "text/html"), (b'{"nonsense": true}', "application/json"),
     (b"\x00\xff garbage", "application/octet-stream")],
)  # fmt: skip
def test_garbage_answers_are_one_message_and_keep_earlier_captions(tmp_path, body, ctype):
    calls = []

    def chat(h):
        h.rfile.read(int(h.headers["Content-Length"]))
        calls.append(1)
        if len(calls) == 1:
            _reply(h, 200, _completion("a good first caption"))
        else:
            _reply(h, 200, body, ctype)

    with serve(tmp_path, {"/v1/chat/completions": chat}) as base:
        settings = CaptionSettings(base_url=base + "/v1", model="m", retries=0, min_interval_s=0)
        with pytest.raises(CaptionError) as exc:
            caption_frames(_frames(3), settings, endpoint(settings))
    assert "answered something that is not a caption" in str(exc.value)
    assert [c.text for c in exc.value.done] == ["a good first caption"]


def test_a_server_that_is_down_is_one_message(tmp_path):
    with serve(tmp_path) as base:
        pass  # stopped: nothing listens on that port any more
    settings = CaptionSettings(base_url=base + "/v1", model="m", retries=0)
    with pytest.raises(CaptionError, match="cannot reach m at http://127.0.0.1"):
        caption_frames(_frames(1), settings, endpoint(settings))


def test_settings_are_checked_and_a_model_is_required(monkeypatch):
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(SettingsError, match="needs a model"):
        endpoint(CaptionSettings())
    for bad in ({"batch_size": 0}, {"timeout_s": 0}, {"min_interval_s": -1}, {"retries": 99}):
        with pytest.raises(SettingsError):
            CaptionSettings(**bad)
    frames = spaced(_frames(1000, 0.5), 0.0, 10)
    assert len(frames) == 10 and frames[0].time_s == 0 and frames[-1].time_s == 499.5
    assert read_captions(Path("/nonexistent/captions.jsonl")) == []


def test_a_batch_answer_that_is_not_a_json_array_falls_back_to_one_image_per_request(tmp_path):
    requests = []

    def chat(h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        n = sum(p["type"] == "image_url" for p in body["messages"][0]["content"])
        requests.append(n)
        _reply(h, 200, _completion("Sure! Here are captions." if n > 1 else "one frame"))

    with serve(tmp_path, {"/v1/chat/completions": chat}) as base:
        settings = CaptionSettings(base_url=base + "/v1", model="m", batch_size=3, min_interval_s=0)
        caps = caption_frames(_frames(3), settings, endpoint(settings))
    assert [c.text for c in caps] == ["one frame"] * 3
    assert requests == [3, 1, 1, 1]


def test_an_overloaded_server_is_retried_then_answers(tmp_path):
    calls = []

    def chat(h):
        h.rfile.read(int(h.headers["Content-Length"]))
        calls.append(1)
        if len(calls) == 1:  # busy once: the client waits and asks again
            _reply(h, 503, b'{"error": {"message": "busy"}}')
        else:
            _reply(h, 200, _completion("after a retry"))

    with serve(tmp_path, {"/v1/chat/completions": chat}) as base:
        settings = CaptionSettings(base_url=base + "/v1", model="m", retries=1, min_interval_s=0)
        caps = caption_frames(_frames(1), settings, endpoint(settings))
        assert [c.text for c in caps] == ["after a retry"] and len(calls) == 2
        calls.clear()
        settings = CaptionSettings(base_url=base + "/v1", model="m", retries=0, min_interval_s=0)
        with pytest.raises(CaptionError) as exc:  # no retries: the first 503 is the answer
            caption_frames(_frames(1), settings, endpoint(settings))
    assert len(calls) == 1 and len(str(exc.value).splitlines()) == 1
