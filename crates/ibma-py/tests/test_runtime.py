"""How the work runs: without the GIL, stopped by Ctrl-C, on `n_cores` threads with the same
numbers for any count."""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import shared

import ibma


def quiet_fit(estimator, dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(dataset)


def test_the_gil_is_released_while_fitting():
    data = shared("nidm_pain21")
    done = threading.Event()
    worker = threading.Thread(target=lambda: (quiet_fit(ibma.DerSimonianLaird(), data), done.set()))
    worker.start()
    counted = 0
    while not done.is_set() and worker.is_alive():
        counted += 1  # runs only while the fit does not hold the GIL
    worker.join()
    assert done.is_set()
    # A fit holding the GIL for its ~1 s would leave this loop a few switch intervals at most.
    assert counted > 100_000


def test_ctrl_c_stops_a_permutation_run():
    data = shared("nidm_pain21")
    fitted = quiet_fit(ibma.DerSimonianLaird(), data)
    # 3,000 refits of DerSimonianLaird on the whole brain take minutes.
    fwe = ibma.correct.FWECorrector(method="montecarlo", n_iters=3_000, n_cores=2)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        fwe.transform(fitted)
    elapsed = time.monotonic() - start
    assert elapsed < 0.5 + 1.0, elapsed
    # The work left behind stops too: the library's flips end at their cancellation check
    # (each remaining flip still takes the maximum over its voxels, under a second here in all,
    # not the minutes of 3,000 refits), after which this process is idle.
    for _ in range(30):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        time.sleep(1.0)
        if resource.getrusage(resource.RUSAGE_SELF).ru_utime - before < 0.2:
            break
    else:
        pytest.fail("the permutation run went on after Ctrl-C")


def test_n_cores_changes_no_number():
    data = shared("nimare_test_pain_10x10x10")
    fitted = quiet_fit(ibma.Hedges(), data)
    maps = []
    for n_cores in (1, 2, -1):
        fwe = ibma.correct.FWECorrector(method="montecarlo", n_iters=200, n_cores=n_cores).transform(fitted)
        maps.append(fwe.maps["p_level-voxel_corr-FWE_method-montecarlo"])
    assert all(np.array_equal(maps[0].view(np.uint32), m.view(np.uint32)) for m in maps[1:])
    tables = [
        ibma.diagnostics.Jackknife(target_threshold=2.0, n_cores=n).transform(fitted).tables["z_diag-Jackknife_tab-counts"]
        for n in (1, 2)
    ]
    assert tables[0] == tables[1] and "PositiveTail 1" in tables[0]
    with pytest.warns(UserWarning, match="greater than number available"):
        ibma.correct.FWECorrector(method="montecarlo", n_iters=5, n_cores=(os.cpu_count() or 1) + 1).transform(fitted)
