"""Device selection: clear errors, and Hopper refused before any kernel runs."""
import mxnet as mx
import pytest

from sap_mx.hardware import HardwareError, check_capability, contexts, parse_gpus


def test_parse():
    assert parse_gpus("") == [] and parse_gpus(None) == []
    assert parse_gpus("0,1") == [0, 1] and parse_gpus([2]) == [2]
    for bad in ("a", "0,-1", "1;2"):
        with pytest.raises(HardwareError, match="GPU indices like 0,1"):
            parse_gpus(bad)


def test_cpu_by_default():
    assert contexts("") == [mx.cpu()]


@pytest.mark.parametrize("cap", [(5, 0), (6, 1), (7, 5), (8, 0), (8, 6), (8, 9)])
def test_supported_capabilities(cap):
    check_capability(0, cap)


@pytest.mark.parametrize("cap, sm", [((9, 0), "sm_90"), ((10, 0), "sm_100"), ((3, 7), "sm_37")])
def test_unsupported_capabilities_name_the_range(cap, sm):
    with pytest.raises(HardwareError) as err:
        check_capability(1, cap, "NVIDIA H100")
    msg = str(err.value)
    assert sm in msg and "sm_50-sm_86" in msg and "\n" not in msg


def test_cpu_build_asking_for_a_gpu_says_what_to_install():
    if mx.runtime.Features().is_enabled("CUDA"):
        pytest.skip("this check is about the CPU build of mxnet")
    with pytest.raises(HardwareError, match="no CUDA: install the gpu extra"):
        contexts("0")
