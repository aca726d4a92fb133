"""Main-person selection on synthetic tracks."""

from __future__ import annotations

import pytest

from ros_detect.schema import Detection
from ros_detect.selection.main_person import MainPersonConfig, MainPersonSelector
from ros_detect.selection.tracking import box_iou

pytestmark = pytest.mark.unit

SIZE = (427, 240)


def person(x1: float, y1: float, x2: float, y2: float, score: float = 0.9) -> Detection:
    return Detection((x1, y1, x2, y2), score, 1, "person")


def run(frames: list[list[Detection]], config: MainPersonConfig | None = None):
    selector = MainPersonSelector(config or MainPersonConfig(smoothing=0.0))
    return [selector.update(dets, SIZE) for dets in frames]


def test_single_person_is_main_every_frame():
    frames = [[person(150 + i, 40, 250 + i, 230)] for i in range(20)]
    results = run(frames)
    assert all(r.present and not r.held for r in results)
    assert len({r.track_id for r in results}) == 1
    assert results[-1].box == [169.0, 40.0, 269.0, 230.0]


def test_non_person_and_low_score_are_ignored():
    car = Detection((10, 10, 400, 230), 0.99, 3, "car")
    weak = person(100, 50, 200, 230, score=0.2)
    results = run([[car, weak]] * 3)
    assert not any(r.present for r in results)
    assert all(r.track_id is None for r in results)


def test_two_people_crossing_keeps_identity():
    # A (bigger) walks right, B (smaller) walks left; they overlap mid-way.
    frames = []
    for i in range(40):
        a = person(60 + 6 * i, 30, 160 + 6 * i, 235, 0.95)
        b = person(300 - 6 * i, 60, 380 - 6 * i, 220, 0.9)
        frames.append([b, a] if i % 2 else [a, b])  # order must not matter
    results = run(frames)
    ids = {r.track_id for r in results}
    assert len(ids) == 1, "main person identity swapped during the crossing"
    # The main box keeps following A (moving right) to the end.
    a_last = person(60 + 6 * 39, 30, 160 + 6 * 39, 235)
    assert box_iou(results[-1].box, a_last.box) > 0.9


def test_flicker_is_held_not_dropped():
    frames = [[person(150, 40, 250, 230)] for _ in range(10)]
    frames[4] = []  # detector misses the person for two frames
    frames[5] = []
    results = run(frames)
    assert all(r.present for r in results)
    assert results[4].held and results[5].held
    assert not results[6].held
    assert len({r.track_id for r in results}) == 1


def test_brief_challenger_does_not_steal_main():
    cfg = MainPersonConfig(smoothing=0.0, switch_frames=5)
    main = person(40, 60, 120, 220)
    big = person(200, 10, 380, 238)
    frames = [[main] for _ in range(5)] + [[main, big] for _ in range(3)] + [[main] for _ in range(3)]
    results = run(frames, cfg)
    assert len({r.track_id for r in results}) == 1


def test_clear_challenger_wins_after_switch_frames():
    cfg = MainPersonConfig(smoothing=0.0, switch_frames=4)
    small = person(20, 150, 60, 230)
    big = person(150, 10, 300, 238)
    results = run([[small]] * 3 + [[small, big]] * 6, cfg)
    first = results[0].track_id
    switched_at = next(i for i, r in enumerate(results) if r.track_id != first)
    assert switched_at == 3 + 4 - 1  # the 4th consecutive winning frame
    assert box_iou(results[-1].box, big.box) > 0.99


def test_main_person_leaves_and_returns():
    cfg = MainPersonConfig(smoothing=0.0, hold_frames=2, dropout_frames=5)
    main = person(150, 20, 280, 235)
    other = person(10, 150, 50, 230)
    frames = [[main, other]] * 5 + [[other]] * 10 + [[main, other]] * 10
    results = run(frames, cfg)
    main_id = results[0].track_id
    assert results[5].held and results[6].held  # hold window
    # After the hold window the visible person takes over instead of reporting nothing.
    assert results[8].present and box_iou(results[8].box, other.box) > 0.99
    # The original main person is back and, winning clearly, regains the role after switch_frames.
    assert box_iou(results[-1].box, main.box) > 0.99
    assert results[-1].track_id != main_id  # a new track after the dropout


def test_nobody_left_reports_absent():
    cfg = MainPersonConfig(smoothing=0.0, hold_frames=2)
    results = run([[person(100, 20, 200, 230)]] * 3 + [[]] * 5, cfg)
    assert [r.present for r in results] == [True] * 5 + [False] * 3


def test_smoothing_lags_towards_new_position():
    cfg = MainPersonConfig(smoothing=0.5)
    results = run([[person(100, 20, 200, 230)], [person(110, 20, 210, 230)]], cfg)
    assert results[1].box[0] == 105.0


def test_bad_config_names_the_parameter():
    import pytest

    from ros_detect.errors import ConfigError

    with pytest.raises(ConfigError, match="switch_frames"):
        MainPersonSelector(MainPersonConfig(switch_frames=0))
