#!/usr/bin/env python3
"""Writes tests/data/itm_area.csv: area-mode losses from pyitm 0.3 (MIT), the ITM port that
Python MeshView's /api/coverage calls.

Run it in a throw-away virtual environment (never committed), for example:

    python3 -m venv target/itm-venv
    target/itm-venv/bin/pip install pyitm==0.3
    target/itm-venv/bin/python crates/meshview-radio/scripts/itm_vectors.py

The rows are a fixed grid around MeshView's defaults plus a seeded random sample of the whole
input space, so a rerun writes the same file.
"""
import csv
import math
import os
import random

from pyitm import itm

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "itm_area.csv")
FIELDS = [
    "mod_var", "delta_h", "tht_m", "rht_m", "dist_km", "tsite", "rsite", "eps", "sgm", "ns",
    "frq_mhz", "climate", "pol", "pct_time", "pct_loc", "pct_conf", "loss_db", "errnum", "error",
]


def row(mod_var, delta_h, tht, rht, dist, tsite, rsite, eps, sgm, ns, frq, climate, pol,
        pt, pl, pc):
    r = dict(mod_var=mod_var, delta_h=delta_h, tht_m=tht, rht_m=rht, dist_km=dist, tsite=tsite,
             rsite=rsite, eps=eps, sgm=sgm, ns=ns, frq_mhz=frq, climate=climate, pol=pol,
             pct_time=pt, pct_loc=pl, pct_conf=pc, loss_db="", errnum="", error="")
    try:
        loss, err = itm.area(ModVar=mod_var, deltaH=delta_h, tht_m=tht, rht_m=rht, dist_km=dist,
                             TSiteCriteria=tsite, RSiteCriteria=rsite, eps_dielect=eps,
                             sgm_conductivity=sgm, eno_ns_surfref=ns, frq_mhz=frq,
                             radio_climate=climate, pol=pol, pctTime=pt, pctLoc=pl, pctConf=pc)
        if isinstance(loss, complex) or not math.isfinite(loss):
            r["error"] = "NonFinite"
        else:
            r["loss_db"] = repr(float(loss))
            r["errnum"] = err
    except itm.InputError:
        r["error"] = "InputError"
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        r["error"] = type(e).__name__
    return r


def meshview(freq, tx_h, rx_h, dist, rel):
    return row(2, 90, tx_h, rx_h, dist, 0, 0, 15, 0.005, 301, freq, 5, 1, rel, 0.5, 0.5)


def main():
    rows = []
    # MeshView's own settings over distance: below 1 km, the line-of-sight / diffraction /
    # scatter boundaries (a few km to a few hundred km at these heights) and the default walk.
    dists = [0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130,
             160, 200, 250, 300]
    for freq in (144, 433, 868, 907, 915, 2400):
        for d in dists:
            rows.append(meshview(freq, 5, 1.5, d, 0.5))
    for tx_h, rx_h in ((1, 1), (2, 10), (30, 1.5), (100, 100)):
        for d in (0.5, 1, 4, 12, 35, 70, 150, 300):
            for rel in (0.1, 0.5, 0.9, 0.99):
                rows.append(meshview(907, tx_h, rx_h, d, rel))

    # A seeded sample over the whole grid of the brief.
    rng = random.Random(20240601)
    pcts = (0.1, 0.5, 0.9, 0.99)
    for _ in range(400):
        rows.append(row(
            rng.choice((0, 1, 2, 3)),
            rng.choice((0, 30, 90, 200, 500)),
            rng.choice((1, 1.5, 2, 5, 10, 30, 100)),
            rng.choice((1, 1.5, 2, 5, 10, 30, 100)),
            rng.choice((0.5, 0.8, 1, 2, 3.5, 6, 10, 18, 25, 40, 60, 90, 120, 180, 240, 300)),
            rng.choice((0, 1, 2)),
            rng.choice((0, 1, 2)),
            rng.choice((4, 15, 25, 80)),
            rng.choice((0.001, 0.005, 0.02, 5)),
            rng.choice((250, 280, 301, 350, 400)),
            rng.choice((144, 433, 868, 907, 915, 2400)),
            rng.randint(1, 7),
            rng.choice((0, 1)),
            rng.choice(pcts), rng.choice(pcts), rng.choice(pcts),
        ))

    # Inputs pyitm refuses or cannot compute.
    for freq in (10, 19.99, 20000.5, 30000):
        rows.append(meshview(freq, 5, 1.5, 10, 0.5))
    rows.append(meshview(907, 5, 1.5, 0, 0.5))
    rows.append(meshview(907, 5, 1.5, -3, 0.5))
    rows.append(meshview(907, 0, 1.5, 10, 0.5))
    rows.append(meshview(907, -1, 1.5, 10, 0.5))
    # Edges that pyitm still computes (with its warning code).
    rows.append(meshview(20, 5, 1.5, 10, 0.5))
    rows.append(meshview(20000, 5, 1.5, 10, 0.5))
    rows.append(meshview(907, 0.5, 0.5, 10, 0.5))
    rows.append(meshview(907, 3000, 1.5, 1500, 0.5))
    rows.append(meshview(907, 5, 1.5, 2000, 0.01))

    with open(OUT, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
