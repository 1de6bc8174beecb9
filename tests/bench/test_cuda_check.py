"""The CPU/CUDA comparison of bench/cuda_check.py: what counts as the same result."""

from bench.cuda_check import differences


def test_equal_within_float_tolerance_and_exact_elsewhere():
    a = {"analyses": {"svd": {"singular": [1.0, 2.0]}, "zero_layer": {"exceptions": [[3, 4]], "n": 2}},
         "seconds": 1.0}
    same = {"analyses": {"svd": {"singular": [1.0 + 1e-9, 2.0]}, "zero_layer": {"exceptions": [[3, 4]], "n": 2}},
            "seconds": 9.0}
    assert differences(a, same) == []  # float rounding and the run's own time do not count
    moved = {"analyses": {"svd": {"singular": [1.0, 2.0]}, "zero_layer": {"exceptions": [[3, 5]], "n": 2}}}
    assert differences(a, moved) == ["analyses.zero_layer.exceptions[0][1]: 4 against 5"]
    off = {"analyses": {"svd": {"singular": [1.001, 2.0]}, "zero_layer": {"exceptions": [[3, 4]], "n": 2}}}
    assert differences(a, off) == ["analyses.svd.singular[0]: 1.0 against 1.001"]


def test_shapes_types_and_missing_keys_differ():
    assert differences([1, 2], [1]) == [": 2 against 1 items"]
    assert differences({"a": 1}, {"b": 1}) == ["a: only in one run", "b: only in one run"]
    assert differences({"x": 1}, {"x": 1.5}) == ["x: 1 against 1.5"]
    assert differences({"x": True}, {"x": 1.0}) == ["x: True against 1.0"]
    assert differences({"x": float("nan")}, {"x": float("nan")}) == []
