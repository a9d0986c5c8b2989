"""Only plain data crosses, decoded without running code; everything else is refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grader.engine.transport import MalformedMessage, UnsupportedValue, decode, encode, roundtrip


def test_plain_values_survive_a_roundtrip_exactly() -> None:
    value = {
        "numbers": [1, -(2**70), 0.1, math.inf, 1 + 2j, True, None],
        "text": ("ünïcode", b"\x00bytes"),
        3: torch.randn(2, 3, dtype=torch.float64),
        (1, "k"): np.arange(6, dtype=np.int32).reshape(2, 3),
        "dtypes": [torch.float32, np.dtype("float64"), torch.Size([2, 3])],
        "scalar": np.float32(1.5),
    }
    back = roundtrip(value)
    assert back["numbers"][:3] == value["numbers"][:3] and back["numbers"][3] == math.inf
    assert back["text"] == value["text"]
    assert torch.equal(back[3], value[3]) and back[3].dtype == torch.float64
    assert np.array_equal(back[(1, "k")], value[(1, "k")]) and back[(1, "k")].dtype == np.int32
    assert back["dtypes"] == value["dtypes"]
    assert type(back["scalar"]) is np.float32


@pytest.mark.parametrize(
    "tensor",
    [
        torch.zeros(0, 4),
        torch.tensor(3.0),
        torch.ones(2, 3).t(),
        torch.tensor([True, False]),
        torch.ones(3, dtype=torch.bfloat16),
    ],
    ids=["empty", "0-d", "non-contiguous", "bool", "bfloat16"],
)
def test_tensors_of_every_layout_come_back_equal_and_detached(tensor: torch.Tensor) -> None:
    back = roundtrip(tensor.requires_grad_() if tensor.is_floating_point() else tensor)
    assert type(back) is torch.Tensor and back.dtype == tensor.dtype and back.shape == tensor.shape
    assert torch.equal(back, tensor.detach()) and not back.requires_grad


def test_a_nan_survives_the_roundtrip() -> None:
    assert math.isnan(roundtrip(float("nan")))


class Liar:
    def __eq__(self, other: object) -> bool:
        return True


class LyingTensor(torch.Tensor):
    pass


class MyFloat(float):
    pass


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (Liar(), "an object of type"),
        (torch.ones(2).as_subclass(LyingTensor), "LyingTensor"),
        (MyFloat(1.0), "MyFloat"),
        (np.array([Liar()], dtype=object), "dtype object"),
        ({1, 2}, "type set"),
        (lambda: 1, "function"),
        (torch.ones(2).to_sparse(), "layout"),
    ],
    ids=["custom-eq", "tensor-subclass", "float-subclass", "object-array", "set", "function", "sparse"],
)
def test_anything_but_plain_data_is_refused_by_name(value: object, found: str) -> None:
    with pytest.raises(UnsupportedValue) as caught:
        encode([1, {"w": value}])
    assert caught.value.path == "result[1]['w']"
    assert found in caught.value.found


@pytest.mark.parametrize(
    "message",
    [b"", b"GRT1", b"GRT1" + b"\xff" * 8, encode([1, 2])[:-1], b"PICKLE" + b"\x80\x04"],
    ids=["empty", "no-header", "huge-length", "truncated-header", "not-ours"],
)
def test_malformed_messages_are_rejected_not_executed(message: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(message)


def test_a_tampered_tensor_size_is_rejected() -> None:
    good = encode(torch.ones(4))
    with pytest.raises(MalformedMessage):
        decode(good[:-4])


def test_a_tampered_dtype_is_rejected() -> None:
    tampered = encode(np.ones(2)).replace(b'"<f8"', b'"|O8"')
    with pytest.raises(MalformedMessage):
        decode(tampered)


@pytest.mark.parametrize(
    "reply",
    [
        b"K" + encode(1)[:-1],
        b"X" + encode(1),
        b"E" + encode({"status": "passed", "message": "fake", "traceback": ""}),
        b"E" + encode({"status": "error", "message": 3, "traceback": ""}),
        b"E" + encode([1, 2]),
    ],
    ids=["truncated-value", "unknown-tag", "error-claiming-a-pass", "message-not-text", "not-a-record"],
)
def test_a_reply_from_the_sandbox_must_be_a_value_or_a_well_formed_error(reply: bytes) -> None:
    from grader.engine.sandbox.backend import read_reply

    with pytest.raises(MalformedMessage):
        read_reply(reply)
