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


def interrupted(work) -> float:
    """Run `work` and send Ctrl-C 0.5 s in: it must raise KeyboardInterrupt within a second of
    the signal, and the work left behind must stop at the library's next cancellation check
    (this process idle again). Returns the seconds from the signal to idle."""
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        work()
    elapsed = time.monotonic() - start
    assert elapsed < 0.5 + 1.0, elapsed
    for _ in range(30):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        time.sleep(1.0)
        if resource.getrusage(resource.RUSAGE_SELF).ru_utime - before < 0.2:
            return time.monotonic() - start - 0.5
    pytest.fail("the work went on for 30 s after Ctrl-C")


@pytest.mark.parametrize("estimator", [ibma.DerSimonianLaird, ibma.MFX_GLM])
def test_ctrl_c_stops_a_permutation_run(estimator):
    data = shared("nidm_pain21")
    fitted = quiet_fit(estimator(), data)
    # 3,000 refits of DerSimonianLaird on the whole brain take minutes; MFX_GLM's one-sample
    # flips run through FLAME1's flip kernel, cancellable between batches of 128 flips.
    fwe = ibma.correct.FWECorrector(method="montecarlo", n_iters=3_000, n_cores=2)
    idle = interrupted(lambda: fwe.transform(fitted))
    print(f"{estimator.__name__} montecarlo: idle {idle:.1f} s after Ctrl-C")


def test_ctrl_c_stops_a_fit():
    # RFX_GLM's empirical null: 5,000 sign flips inside the fit.
    data = shared("nidm_pain21")
    idle = interrupted(lambda: quiet_fit(ibma.RFX_GLM(null="empirical", n_iters=5_000), data))
    print(f"RFX_GLM empirical null fit: idle {idle:.1f} s after Ctrl-C")


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
