"""Named schedules: provenance (regeneration), the band table of reference §2, and scalar_map."""

import numpy as np
import pytest

from matsign.exact.polar_express import polar_express_coefficients
from matsign.exact.schedules import SCHEDULES, Schedule, get_schedule, polar_express_schedule, scalar_map

# reference.md §2, "Output singular-value bands": σ ∈ [1e-3, 1] and σ ∈ [1e-2, 1], 3 decimals.
BANDS = {
    ("muon", None): ((0.471, 1.202), (0.682, 1.134)),
    ("you5", None): ((0.475, 1.145), (0.978, 1.032)),
    ("polar_express", None): ((0.847, 1.141), (0.859, 1.141)),
    ("cans", None): ((0.884, 1.120), (0.884, 1.120)),
    ("cubic", 5): ((0.008, 1.0), (0.076, 1.0)),
    ("cubic", 10): ((0.058, 1.0), (0.529, 1.0)),
}


@pytest.mark.parametrize("key", list(BANDS))
def test_band_table(key):
    name, steps = key
    for lower, (lo, hi) in zip((1e-3, 1e-2), BANDS[key]):
        s = np.geomspace(lower, 1.0, 400_001)
        y = scalar_map(s, name, steps=steps)
        # The table is rounded to 3 decimals: agree to half a unit in the last place (+ grid slack).
        assert abs(y.min() - lo) <= 6e-4 and abs(y.max() - hi) <= 6e-4, (name, lower, y.min(), y.max())


def test_deepseek_band():
    y = scalar_map(np.geomspace(1e-3, 1.0, 400_001), "deepseek_v4")
    assert abs(y.min() - 1.0) <= 5e-5 and abs(y.max() - 1.0005) <= 5e-5


def test_polar_express_list_regenerates():
    sched = SCHEDULES["polar_express"]
    regenerated = np.array(polar_express_coefficients(**sched.generator))
    np.testing.assert_allclose(regenerated, np.array(sched.coefficients), rtol=1e-10)
    assert sched.prescale == 1.0 + sched.generator["safety"]


def test_cans_list_is_the_generator_rounded_to_four_decimals():
    sched = SCHEDULES["cans"]
    regenerated = np.round(np.array(polar_express_coefficients(**sched.generator)), 4)
    np.testing.assert_array_equal(regenerated, np.array(sched.coefficients))


def test_polar_express8_regenerates():
    sched = SCHEDULES["polar_express8"]
    raw = np.array(polar_express_coefficients(**sched.generator))
    divided = raw / (1.01 ** np.array([1, 3, 5]))
    divided[-1] = raw[-1]
    published = np.array(sched.coefficients)
    # Steps 1–6 are well-conditioned Remez fits (κ ≤ 211): rounding-level agreement. Step 7 fits an
    # interval of relative width 2.4e-3 whose equioscillation system has κ = 2.0e6, so two LAPACK
    # builds agree only to 2κ·u = 4.5e-10 (analysis in tests/test_polar_express.py, STEP_SEVEN_RTOL).
    np.testing.assert_allclose(divided[:6], published[:6], rtol=1e-12)
    np.testing.assert_allclose(divided[6], published[6], rtol=5e-10)
    # The published last step is the bare Taylor quintic; the generator scales it to u = 1 + 1e-9.
    np.testing.assert_allclose(divided[-1], published[-1], rtol=1e-8)


def test_generated_schedule_object():
    s = polar_express_schedule(5)
    np.testing.assert_allclose(np.array(s.coefficients), np.array(SCHEDULES["polar_express"].coefficients), rtol=1e-10)
    assert s.prescale == 1.02
    assert dict(s.generator) == {"steps": 5, "lower": 1e-3, "safety": 0.02, "cushion": 0.02}


def test_scalar_map_is_the_composition():
    # Closed form: two cubic steps on s = 0.5: 0.6875, then 1.5·0.6875 − 0.5·0.6875³.
    first = 1.5 * 0.5 - 0.5 * 0.5**3
    assert scalar_map(0.5, "cubic", steps=2) == pytest.approx(1.5 * first - 0.5 * first**3, rel=1e-15)
    a, b, c = 3.4445, -4.7750, 2.0315
    s = 0.3 / 1.0
    for _ in range(7):  # 7 > 5 steps: the last triple repeats
        s = a * s + b * s**3 + c * s**5
    assert scalar_map(0.3, "muon", steps=7) == pytest.approx(s, rel=1e-14)
    t = 0.3 / 1.02
    for a, b, c in SCHEDULES["polar_express"].coefficients[:2]:
        t = a * t + b * t**3 + c * t**5
    assert scalar_map(0.3, "polar_express", steps=2) == pytest.approx(t, rel=1e-14)


def test_steps_truncate_and_repeat():
    s = SCHEDULES["you5"]
    assert s.steps_coefficients(2) == s.coefficients[:2]
    assert s.steps_coefficients(7) == s.coefficients + (s.coefficients[-1],) * 2
    assert s.steps_coefficients() == s.coefficients
    assert SCHEDULES["cubic"].steps_coefficients() == ((1.5, -0.5, 0.0),) * 5


def test_scalar_map_on_backend(backend):
    s = np.geomspace(1e-3, 1.0, 50)
    y = backend.to_numpy(scalar_map(backend.asarray(s), "polar_express"))
    np.testing.assert_allclose(y, scalar_map(s, "polar_express"), rtol=1e-12)


def test_required_names_present():
    for name in ("cubic", "muon", "polar_express", "polar_express8", "you5", "cans", "aol4", "aol_nemo",
                 "deepseek_v4"):
        assert SCHEDULES[name].source


def test_custom_and_bad_schedules():
    custom = get_schedule([(1.5, -0.5, 0.0), (2.0, -1.5, 0.5)])
    assert custom.default_steps == 2 and custom.name == "custom"
    with pytest.raises(ValueError, match="unknown schedule 'nope'"):
        get_schedule("nope")
    with pytest.raises(TypeError, match="schedule must be"):
        get_schedule(3.0)
    with pytest.raises(ValueError, match="triples"):
        Schedule("bad", ((1.0, 2.0),))
    with pytest.raises(ValueError, match="finite"):
        Schedule("bad", ((1.0, float("nan"), 0.0),))
    with pytest.raises(ValueError, match="prescale"):
        Schedule("bad", ((1.5, -0.5, 0.0),), prescale=0.0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            SCHEDULES["muon"].steps_coefficients(bad)


def test_bad_schedule_arguments_name_themselves():
    from matsign.exact.newton_schulz import newton_schulz

    with pytest.raises(ValueError, match="lower must be a number in"):
        polar_express_schedule(3, lower="x")
    with pytest.raises(ValueError, match="safety must be"):
        polar_express_schedule(3, safety=-1.0)
    for bad in ([("a", 1, 1)], [(1.0, None, 0.0)], [(1.0, True, 0.0)], [(1.0, 2.0)], []):
        with pytest.raises(ValueError, match="schedule 'custom': coefficients must be"):
            newton_schulz(np.eye(2), bad)
    for bad in ("a", None, 0.0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="prescale must be a finite number > 0"):
            Schedule("x", [(1.5, -0.5, 0.0)], prescale=bad)
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="default_steps must be a non-negative integer"):
            Schedule("x", [(1.5, -0.5, 0.0)], default_steps=bad)


# The lists as published, copied here by hand from the files named (a peer's list is the oracle).
# NVIDIA-NeMo/Emerging-Optimizers, emerging_optimizers/orthogonalized_optimizers/muon_utils.py,
# _COEFFICIENT_SETS["aol"], lines 68-74 at commit fd7729267109a8848709e9406bf19e53e970c3f4:
NEMO_AOL = (
    (4.0098, -7.0585, 2.4635),
    (3.4585, -5.5479, 2.5959),
    (2.7573, -3.2939, 1.4254),
    (2.7215, -3.0494, 1.3169),
)
# thib-s/flash-newton-schulz, newton_schulz_triton.py, newton_schulz_triton_aol, lines 554-559
# at commit cdb03db0e6c59e82365426373a1601fadfdf7ab3:
FLASH_NS_AOL = (
    (4.6051, -9.6552, 5.6769),
    (4.7505, -6.0861, 2.1790),
    (2.7763, -2.3190, 0.5523),
    (2.4231, -2.2861, 0.8193),
)


def test_aol_lists_are_the_published_ones():
    assert SCHEDULES["aol_nemo"].coefficients == NEMO_AOL
    assert SCHEDULES["aol4"].coefficients == FLASH_NS_AOL
    assert "fd77292" in SCHEDULES["aol_nemo"].source and "cdb03db" in SCHEDULES["aol4"].source


def test_past_end_cycle_restarts_the_list_as_nemo_does():
    # NeMo's get_coefficient_iterator(mode="cycle") is itertools.cycle: step k uses triple k mod 4.
    nemo = SCHEDULES["aol_nemo"]
    assert nemo.past_end == "cycle"
    assert nemo.steps_coefficients(10) == NEMO_AOL * 2 + NEMO_AOL[:2]
    assert nemo.steps_coefficients(3) == NEMO_AOL[:3]
    last = Schedule("same", NEMO_AOL)
    assert last.past_end == "last" and last.steps_coefficients(6) == NEMO_AOL + (NEMO_AOL[-1],) * 2
    # The scalar map follows the expanded list: step 5 applies the first triple again.
    s = np.array([0.05, 0.3, 0.9])
    t = s.copy()
    for a, b, c in NEMO_AOL + NEMO_AOL[:1]:
        t = a * t + b * t**3 + c * t**5
    np.testing.assert_allclose(scalar_map(s, "aol_nemo", steps=5), t, rtol=1e-14)
    with pytest.raises(ValueError, match="past_end"):
        Schedule("x", NEMO_AOL, past_end="wrap")


def test_default_steps_zero_means_the_list_and_positive_repeats():
    triples = [(1.5, -0.5, 0.0), (2.0, -1.5, 0.5)]
    assert len(Schedule("x", triples).steps_coefficients()) == 2
    assert Schedule("x", triples, default_steps=5).steps_coefficients() == (
        tuple(triples) + (triples[-1],) * 3
    )


# How the papers name each schedule (the plot labels; matsign.plots used to hold this table).
PAPER_NAMES = {
    "cubic": "cubic NS",
    "muon": "Muon quintic",
    "you5": "You (5 steps)",
    "polar_express": "Polar Express",
    "polar_express8": "Polar Express (8)",
    "cans": "CANS",
    "aol4": "Turbo-Muon AOL (4)",
    "aol_nemo": "AOL (NeMo, 4)",
    "deepseek_v4": "DeepSeek-V4",
}


def test_labels_are_the_papers_names():
    assert {name: s.label for name, s in SCHEDULES.items()} == PAPER_NAMES
    assert get_schedule([(1.5, -0.5, 0.0)]).label == "custom"
    assert polar_express_schedule(3).label == polar_express_schedule(3).name


@pytest.mark.parametrize("sigma", [np.nan, np.inf, -np.inf, -0.5, [0.2, -1e-300], [0.5, np.nan]])
def test_scalar_map_rejects_values_that_are_not_normalized_singular_values(backend, sigma):
    with pytest.raises(ValueError, match="sigma"):
        scalar_map(backend.asarray(np.asarray(sigma, dtype=np.float64)), "muon")
    with pytest.raises(ValueError, match="sigma"):
        scalar_map(np.asarray(sigma).tolist() if np.ndim(sigma) else float(sigma), "muon")


def test_scalar_map_accepts_zero_and_values_above_one():
    assert scalar_map(0.0, "muon") == 0.0
    assert np.isfinite(scalar_map(np.array([0.0, 1.0, 1.2]), "muon")).all()
