#!/usr/bin/env python3
"""Reference values for ibma-stats' log-space tail functions (tests/it/tails.rs).

Regenerate (from crates/ibma-stats):

    pip install mpmath==1.3.0
    python3 tests/data/make_reference.py > tests/data/reference_tails.csv

Every value is computed with mpmath at mp.dps = 50 and recomputed at mp.dps = 80; the script
aborts if the two disagree beyond 1e-30 relative, so each row is the correctly rounded
binary64 of the exact function value at the (binary64) inputs, which are written with repr()
so that Rust parses the very same doubles.

Columns: kind,a,b,value
  norm_logcdf  a=x                 value = ln Phi(x)
  ndtri_exp    a=y                 value = Phi^-1(e^y)
  t_logsf      a=t      b=dof      value = ln P(T_dof > t)
  chi2_logsf   a=x      b=dof      value = ln P(X2_dof > x)
  t_to_z       a=t      b=dof      value = sign(t) * -Phi^-1(P(T_dof > |t|))
  p_to_z       a=p      b=tail     value = -Phi^-1(max(p, 2^-1074) / tail), tail = 1 or 2
"""

import sys

import mpmath
from mpmath import mp, mpf

DPS = 50
CHECK_DPS = 80


def norm_logcdf(x):
    x = mpf(x)
    if x < 0:
        return mp.log(mp.ncdf(x))
    # ln(1 - Phi(-x)); log1p keeps the tiny upper tail (Phi(-37) ~ 1e-300).
    return mp.log1p(-mp.ncdf(-x))


def norm_logcdf_deriv(x):
    """d/dx ln Phi(x) = phi(x)/Phi(x)."""
    x = mpf(x)
    return mp.exp(-x * x / 2 - mp.log(2 * mp.pi) / 2 - norm_logcdf(x))


def ndtri_exp(y):
    """Solve ln Phi(x) = y: bisection to 1e-3, then Newton to full precision."""
    y = mpf(y)
    lo, hi = mpf(-1000), mpf(40)
    while hi - lo > mpf("1e-3"):
        mid = (lo + hi) / 2
        if norm_logcdf(mid) < y:
            lo = mid
        else:
            hi = mid
    x = (lo + hi) / 2
    for _ in range(100):
        dx = (norm_logcdf(x) - y) / norm_logcdf_deriv(x)
        x -= dx
        if abs(dx) < mpf(10) ** (-(mp.dps - 5)) * max(1, abs(x)):
            break
    else:
        raise RuntimeError(f"ndtri_exp({y}) did not converge")
    return x


def inc_beta(a, b, x):
    """Regularised I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 2F1(a+b, 1; a+1; x).

    All series terms are positive (no cancellation); used only for x <= 1/2, where the
    series converges geometrically. (mpmath's own betainc lost all digits for a = 692 at
    dps 50.)
    """
    a, b, x = mpf(a), mpf(b), mpf(x)
    log_pre = a * mp.log(x) + b * mp.log1p(-x) - mp.log(a) - mp.log(mp.beta(a, b))
    # Near z = 1 mpmath uses the 1 - z transformation, whose terms cancel by up to ~e^3600
    # for dof = 1e6; maxprec lets hypercomb raise its working precision far enough.
    return mp.exp(log_pre) * mp.hyp2f1(a + b, 1, a + 1, x, maxprec=200000)


def t_upper(t, nu):
    """P(T > |t|)."""
    t, nu = abs(mpf(t)), mpf(nu)
    x = nu / (nu + t * t)
    y = t * t / (nu + t * t)
    # Complementary form: its 2F1 series converges fast only while (dof/2)*y is moderate,
    # and it cancels when the tail is tiny; use it only if at most ~10 of the 50 digits
    # cancel. Otherwise the direct form (mpmath transforms 2F1 near z = 1 itself).
    if x >= mpf(1) / 2 and nu * y < 400:
        upper = (1 - inc_beta(mpf(1) / 2, nu / 2, y)) / 2
        if upper > mpf("1e-10"):
            return upper
    upper = inc_beta(nu / 2, mpf(1) / 2, x) / 2
    return upper


def t_logsf(t, nu):
    if t == 0:
        return -mp.log(2)
    upper = t_upper(t, nu)
    # log1p for t < 0: P(T > t) = 1 - upper with upper as small as 1e-28.
    return mp.log(upper) if t > 0 else mp.log1p(-upper)


def chi2_logsf(x, nu):
    a, z = mpf(nu) / 2, mpf(x) / 2
    if z < a:
        return mp.log1p(-mp.gammainc(a, 0, z, regularized=True))
    return mp.log(mp.gammainc(a, z, mp.inf, regularized=True))


def t_to_z(t, nu):
    if t == 0:
        return mpf(0)
    z = -ndtri_exp(t_logsf(abs(t), nu))
    return z if t > 0 else -z


def p_to_z(p, tail):
    p = max(mpf(p), mpf(2) ** -1074)
    return -ndtri_exp(mp.log(p / mpf(tail)))


def checked(fn, *args):
    mp.dps = DPS
    v = fn(*args)
    mp.dps = CHECK_DPS
    w = fn(*args)
    mp.dps = DPS
    if w != 0 and abs((v - w) / w) > mpf("1e-30"):
        raise RuntimeError(f"{fn.__name__}{args}: {v} vs {w}")
    if w == 0 and v != 0:
        raise RuntimeError(f"{fn.__name__}{args}: {v} vs 0")
    return float(v)


def linspace(a, b, n):
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def main():
    mp.dps = DPS
    rows = []

    # Normal ln Phi(x): x in [-447, 8] (z = 447 <-> ln p ~ -1e5), Cody branch edges at
    # |x|/sqrt(2) = 0.46875 and 4, and the upper tail up to 37 (ln Phi still a normal double).
    xs = linspace(-447.0, 8.0, 92) + [
        -1e4, -1000.0, -447.0, -300.0, -100.0, -38.5, -38.0, -37.5, -30.0, -26.0, -20.0,
        -10.0, -5.656854249492381, -5.0, -2.0, -1.0, -0.6629126073623883, -0.5, -0.1,
        -1e-3, -1e-8, 0.0, 1e-8, 1e-3, 0.1, 0.5, 0.6629126073623883, 1.0, 2.0, 3.0,
        5.656854249492381, 6.0, 8.0, 10.0, 15.0, 20.0, 26.0, 30.0, 35.0, 37.0,
    ]
    for x in xs:
        rows.append(("norm_logcdf", x, 0.0, checked(norm_logcdf, x)))

    # ndtri_exp over y in [-1e5, -1e-10], log-spaced, plus branch edges.
    ys = [-(10.0 ** (k / 10)) for k in range(-100, 51)] + [
        -745.1332191019412, -744.4400719213812, -700.0001, -700.0, -699.9, -400.0001,
        -400.0, -2.5902671654458267, -2.5, -0.69, -0.7, -0.0779615414697118, -0.07, -0.5, -1e-4, -9.9e-5,
    ]
    for y in ys:
        rows.append(("ndtri_exp", y, 0.0, checked(ndtri_exp, y)))

    # Student t ln survival function.
    dofs = [1.0, 2.0, 3.5, 10.0, 30.0, 100.0, 1384.0, 1e4, 1e6]
    ts = [-50.0, -3.0, -0.5, 0.0, 0.1, 1.0, 2.0, 5.0, 10.0, 85.0, 1e3, 1e5, 1e8]
    extra_ts = [-1e8, -1e3, -1.0, -0.1, -1e-3, 1e-3, 0.3, 1.5, 1.7, 3.0, 20.0, 38.0]
    for nu in dofs:
        for t in ts + extra_ts:
            rows.append(("t_logsf", t, nu, checked(t_logsf, t, nu)))

    # Denser grid: non-integer dof, both sides of the large-dof switch (dof = 30), and t on
    # both sides of the series / continued-fraction switch y = 1.5 / (dof/2 + 2.5).
    for nu in [1.5, 5.0, 29.0, 29.9, 30.5, 31.0, 300.0, 3000.0, 1e5]:
        y_sw = 1.5 / (nu / 2 + 2.5)
        t_sw = (nu * y_sw / (1 - y_sw)) ** 0.5
        dense = [1e-2, 0.5, 1.2, 2.5, 4.0, 7.0, 15.0, 40.0, 200.0, 1e4, 1e6,
                 t_sw * 0.999, t_sw * 1.001]
        for t in dense + [-t for t in dense]:
            rows.append(("t_logsf", t, nu, checked(t_logsf, t, nu)))

    # Chi-square ln survival function (Fisher's method uses dof = 2k).
    chi_dofs = [1.0, 2.0, 3.0, 7.5, 10.0, 19.0, 21.0, 40.0, 200.0, 2000.0, 1e5]
    chi_xs = [1e-3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 40.0, 41.9, 42.1, 60.0, 100.0, 200.0,
              500.0, 1000.0, 2000.0, 2100.0, 5000.0, 1e5, 1e5 + 900.0, 1e6]
    for nu in chi_dofs:
        for x in chi_xs:
            rows.append(("chi2_logsf", x, nu, checked(chi2_logsf, x, nu)))

    # t -> z by exact tail matching (NiMARE 0.22.1), incl. the (85, 1384).
    tz = [(85.0, 1384.0), (-85.0, 1384.0), (0.0, 10.0), (1e-3, 10.0), (0.5, 10.0),
          (-0.5, 10.0), (2.0, 5.0), (3.0, 20.0), (-3.0, 20.0), (10.0, 3.0), (50.0, 100.0),
          (1e3, 30.0), (1e5, 2.0), (1e8, 1.0), (1e8, 1e6), (5.0, 1e6), (40.0, 1e4),
          (-40.0, 1e4), (7.5, 1384.0), (20.0, 1384.0)]
    for t, nu in tz:
        rows.append(("t_to_z", t, nu, checked(t_to_z, t, nu)))

    # p -> z (NiMARE p_to_z), incl. p = 0 (clipped to the smallest subnormal) and 1e-320.
    for tail in (2.0, 1.0):
        for p in [0.0, 1e-320, 1e-300, 1e-100, 1e-10, 0.001, 0.05, 0.3]:
            rows.append(("p_to_z", p, tail, checked(p_to_z, p, tail)))

    out = sys.stdout
    out.write(f"# generated by make_reference.py with mpmath {mpmath.__version__}, "
              f"mp.dps={DPS} (checked at {CHECK_DPS})\n")
    out.write("kind,a,b,value\n")
    for kind, a, b, v in rows:
        out.write(f"{kind},{a!r},{b!r},{v!r}\n")


if __name__ == "__main__":
    main()
