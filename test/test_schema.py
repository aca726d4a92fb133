"""The result schema: builders produce valid documents that round-trip through JSON."""

from __future__ import annotations

import jsonschema
import pytest

from ros_detect import schema
from ros_detect.schema import Detection

pytestmark = pytest.mark.unit


def _det_doc():
    return schema.detections_doc(
        seq=3,
        stamp_ns=1_700_000_000_123_456_789,
        frame_id="cam0",
        image_size=(427, 240),
        model="fasterrcnn_resnet50_fpn",
        precision="fp32",
        weights="pretrained (COCO_V1)",
        detections=[Detection((1.234, 2.0, 30.0, 40.0), 0.87654, 1, "person")],
        timing_ms={"decode": 1.0, "preprocess": 0.5, "inference": 100.0, "postprocess": 0.2},
        media_time_s=0.125,
    )


def test_detections_doc_round_trip_and_validates():
    doc = _det_doc()
    schema.validate(doc)
    again = schema.loads(schema.dumps(doc))
    assert again == doc
    assert again["stamp"] == {"sec": 1_700_000_000, "nanosec": 123_456_789}
    assert schema.stamp_to_ns(again["stamp"]) == 1_700_000_000_123_456_789
    assert Detection.from_dict(again["detections"][0]).box == (1.23, 2.0, 30.0, 40.0)


def test_main_person_doc_validates_present_and_absent():
    base = dict(seq=1, stamp={"sec": 1, "nanosec": 2}, frame_id="f", image_size=(427, 240), weights="w")
    present = schema.main_person_doc(
        **base, box=[1, 2, 3, 4], score=0.9, track_id=7, held=False, latency_ms={"capture_to_main_person": 12.5}
    )
    absent = schema.main_person_doc(**base, box=None, score=None, track_id=None, held=False, latency_ms=None)
    schema.validate(present)
    schema.validate(absent)
    assert present["present"] is True and absent["present"] is False
    assert schema.loads(schema.dumps(present)) == present


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("seq"),
        lambda d: d.update(seq=-1),
        lambda d: d["detections"][0].update(box=[1, 2, 3]),
        lambda d: d["detections"][0].update(score=1.5),
        lambda d: d.update(unexpected=True),
        lambda d: d["stamp"].update(nanosec=2_000_000_000),
    ],
)
def test_invalid_detections_are_rejected(mutate):
    doc = _det_doc()
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        schema.validate(doc)


def test_unknown_schema_is_rejected():
    with pytest.raises(ValueError, match="unknown schema"):
        schema.validate({"schema": "other@1"})


def test_schema_files_are_valid_json_schema():
    for schema_id in (schema.DETECTIONS_SCHEMA, schema.MAIN_PERSON_SCHEMA):
        doc = schema.json_schema(schema_id)
        jsonschema.validators.validator_for(doc).check_schema(doc)
        assert doc["$id"] == schema_id and doc["title"]


def test_dumps_is_one_line_and_rejects_nan():
    doc = _det_doc()
    assert "\n" not in schema.dumps(doc)
    doc["timing_ms"]["inference"] = float("nan")
    with pytest.raises(ValueError):
        schema.dumps(doc)
