#!/usr/bin/env python3
"""Writes tests/data/itm_p2p.csv (cases) and tests/data/itm_p2p_profiles.json: point-to-point losses from itmlogic 1.2 (PyPI, MIT,
Oxford), a Python port of ITM 1.2.2's point-to-point mode, over synthetic profiles.

Run it like itm_vectors.py (`pip install itmlogic==1.2` in a throw-away venv).

itmlogic ships the ITM routines but no driver; this script drives them the way NTIA's
`ITM_P2P_CR` does (mean path elevation without the first and last 10% scales Ns; mobile mode
without location variability, mdvar 12; avar(z(rel), 0, z(conf))).

itmlogic's qlrpfl reads the receiver's ground height from the profile's second-to-last sample
in one branch (NTIA reads the last); every profile here ends with two equal samples so that
slip does not show.
"""
import cmath
import csv
import json
import math
import os
import random

from itmlogic.misc.qerfi import qerfi
from itmlogic.preparatory_subroutines.qlrpfl import qlrpfl
from itmlogic.statistics.avar import avar

DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
FIELDS = ["profile", "tx_h", "rx_h", "eps", "sgm", "ns", "fmhz", "climate", "pol", "conf", "rel",
          "loss_db", "kwx"]


def p2p(elev, spacing, tx_h, rx_h, eps, sgm, ns, fmhz, climate, pol, conf, rel):
    np_ = len(elev) - 1
    p10 = int(0.1 * np_)
    zsys = sum(elev[p10:np_ - p10 + 1]) / (np_ - 2 * p10 + 1)
    prop = {"pfl": [np_, spacing] + list(elev), "hg": [tx_h, rx_h], "kwx": 0, "lvar": 5,
            "klimx": climate, "mdvarx": 12}
    prop["wn"] = fmhz / 47.7
    prop["ens"] = ns * math.exp(-zsys / 9460) if zsys != 0 else ns
    prop["gme"] = 157e-9 * (1 - 0.04665 * math.exp(prop["ens"] / 179.3))
    zq = complex(eps, 376.62 * sgm / prop["wn"])
    prop["zgnd"] = cmath.sqrt(zq - 1)
    if pol != 0:
        prop["zgnd"] = prop["zgnd"] / zq
    prop = qlrpfl(prop)
    fs = 32.45 + 20 * math.log10(fmhz) + 20 * math.log10(prop["dist"] / 1000)
    a, prop = avar(qerfi([rel])[0], 0, qerfi([conf])[0], prop)
    return float(fs + a), int(prop["kwx"])


def profiles(rng):
    out = {}
    for km, spacing in ((3, 30), (12, 100), (40, 250), (90, 500)):
        n = int(km * 1000 / spacing)
        xs = [i / n for i in range(n + 1)]
        out[f"flat0_{km}km"] = (spacing, [0.0] * (n + 1))
        out[f"flat300_{km}km"] = (spacing, [300.0] * (n + 1))
        out[f"ramp_{km}km"] = (spacing, [50 + 400 * x for x in xs])
        out[f"hill_{km}km"] = (spacing, [100 + 250 * math.exp(-((x - 0.5) / 0.06) ** 2) for x in xs])
        out[f"twohills_{km}km"] = (spacing, [80 + 180 * math.exp(-((x - 0.3) / 0.05) ** 2)
                                              + 220 * math.exp(-((x - 0.75) / 0.04) ** 2) for x in xs])
        out[f"valley_{km}km"] = (spacing, [400 - 300 * math.sin(math.pi * x) for x in xs])
        z, rough = 200.0, []
        for _ in xs:
            z = max(0.0, z + rng.uniform(-25, 25))
            rough.append(round(z, 1))
        out[f"rough_{km}km"] = (spacing, rough)
    for name, (spacing, elev) in out.items():
        elev[:] = [round(v, 3) for v in elev]
        elev[-1] = elev[-2]
    return out


def main():
    rng = random.Random(7)
    profs = profiles(rng)
    cases = []
    for name in sorted(profs):
        spacing, elev = profs[name]
        for _ in range(6):
            args = dict(
                tx_h=rng.choice((1.5, 5, 10, 30, 100)),
                rx_h=rng.choice((1, 1.5, 5, 20)),
                eps=rng.choice((15, 25, 80)),
                sgm=rng.choice((0.005, 0.02, 5)),
                ns=rng.choice((280, 301, 350)),
                fmhz=rng.choice((144, 433, 868, 907, 915, 2400)),
                climate=rng.randint(1, 7),
                pol=rng.choice((0, 1)),
                conf=rng.choice((0.1, 0.5, 0.9)),
                rel=rng.choice((0.1, 0.5, 0.9, 0.99)),
            )
            try:
                loss, kwx = p2p(elev, spacing, **args)
            except (ValueError, ZeroDivisionError):
                continue
            if not math.isfinite(loss):
                continue
            cases.append(dict(profile=name, loss_db=loss, kwx=kwx, **args))
    with open(os.path.join(DATA, "itm_p2p_profiles.json"), "w") as f:
        json.dump({k: {"spacing_m": s, "elevations": [round(v, 3) for v in e]}
                   for k, (s, e) in profs.items()}, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(DATA, "itm_p2p.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        for c in cases:
            c["loss_db"] = repr(c["loss_db"])
            w.writerow(c)
    print(f"wrote {len(cases)} cases over {len(profs)} profiles to {os.path.normpath(DATA)}")

if __name__ == "__main__":
    main()
