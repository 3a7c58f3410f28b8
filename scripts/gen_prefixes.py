"""Regenerate fanzha/sim/data/prefixes.csv from the phonenumbers library's geocoding data.

The simulator gives residents real Xiamen mobile prefixes (the first 7 digits, 号段) and
out-of-town contacts real prefixes of other cities, so that number-class logic built on
phonenumbers sees a realistic mix. Run: .venv/bin/python scripts/gen_prefixes.py
"""

import csv
from pathlib import Path

import phonenumbers
from phonenumbers import carrier, geocoder

CARRIER_PREFIXES = {
    "China Mobile": "134 135 136 137 138 139 147 150 151 152 157 158 159 172 178 182 183 184 187 188 195 198",
    "China Unicom": "130 131 132 145 155 156 166 175 176 185 186 196",
    "China Telecom": "133 149 153 173 177 180 181 189 190 191 193 199",
}
VIRTUAL = "170 171 162 165 167"
OUT = Path(__file__).resolve().parents[1] / "fanzha" / "sim" / "data" / "prefixes.csv"


def main() -> None:
    rows = []
    for name, prefixes in CARRIER_PREFIXES.items():
        for p in prefixes.split():
            for h in range(10000):
                num = phonenumbers.parse(f"+86{p}{h:04d}0000")
                city = geocoder.description_for_number(num, "en")
                if not city or city == "China":
                    continue
                if "Xiamen" in city:
                    rows.append((f"{p}{h:04d}", name, city, "local"))
                elif h % 97 == 0 and "Fujian" not in city:
                    rows.append((f"{p}{h:04d}", name, city, "out_of_town"))
    for p in VIRTUAL.split():
        for h in range(0, 10000, 37):
            num = phonenumbers.parse(f"+86{p}{h:04d}0000")
            rows.append((f"{p}{h:04d}", carrier.name_for_number(num, "en") or "MVNO", "", "virtual"))
    with OUT.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prefix7", "carrier", "city", "number_class"])
        w.writerows(rows)
    print(f"wrote {len(rows)} prefixes to {OUT}")


if __name__ == "__main__":
    main()
