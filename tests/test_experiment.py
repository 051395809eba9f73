"""The response label that training and evaluation use (modeling/experiment.py, issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icipredict.modeling.experiment import (
    FIRST_ASSESSMENT_MONTHS,
    censored_before_assessment,
    responder_target,
    response_exclusions,
    response_label,
    response_strata,
)

EARLY = FIRST_ASSESSMENT_MONTHS / 2
LATE = FIRST_ASSESSMENT_MONTHS * 3


def _frame() -> pd.DataFrame:
    rows = [  # responder, bor, pfs_months, pfs_event, os_months, os_event -> expected label
        (0, "NE", EARLY, 0, EARLY, 0, np.nan),   # censored before the first scan: unknown
        (0, None, EARLY, 0, EARLY, 0, np.nan),   # a source that gives only 0/1, same
        (0, None, None, None, EARLY, 0, np.nan),  # no PFS: OS decides
        (0, "NE", EARLY, 1, EARLY, 1, 0.0),      # died/progressed before it: non-responder
        (0, "PD", EARLY, 0, EARLY, 0, 0.0),      # assessed (PD given): keeps its label
        (0, "NE", LATE, 0, LATE, 0, 0.0),        # censored after the first scan
        (1, "PR", EARLY, 0, EARLY, 0, 1.0),      # a responder is a responder
        (None, None, LATE, 0, LATE, 0, np.nan),  # no label at all
        (0, "SD", LATE, 1, LATE, 1, 0.0),
    ]
    cols = ["responder", "bor", "pfs_months", "pfs_event", "os_months", "os_event", "expected"]
    frame = pd.DataFrame(rows, columns=cols, index=[f"P{i}" for i in range(len(rows))])
    frame["responder"] = frame["responder"].astype("Int64")
    return frame


def test_non_responders_censored_before_the_first_assessment_are_unknown():
    frame = _frame()
    label = response_label(frame)
    np.testing.assert_array_equal(label.to_numpy(), frame["expected"].to_numpy())
    assert censored_before_assessment(frame).tolist() == [True, True, True] + [False] * 6
    ok, y = responder_target(frame)
    assert ok.tolist() == frame["expected"].notna().tolist()
    assert y.tolist() == [0, 0, 0, 1, 0]
    # the splitters stratify on the same label (unknown -> -1)
    assert response_strata(frame).tolist() == [-1, -1, -1, 0, 0, 0, 1, -1, 0]


def test_exclusions_are_counted_by_reason():
    assert response_exclusions(_frame()) == {"response_n_labelled": 5,
                                             "response_n_unlabelled": 1,
                                             "response_n_censored_before_assessment": 3}


def test_frames_without_outcome_columns_keep_their_labels():
    frame = pd.DataFrame({"responder": [1, 0, None]})
    np.testing.assert_array_equal(response_label(frame).to_numpy(), [1.0, 0.0, np.nan])
    assert response_exclusions(frame)["response_n_censored_before_assessment"] == 0
