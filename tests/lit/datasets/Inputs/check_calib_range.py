"""Checks compile --calib-range from the JSON reports of one model compiled
with each rule on the same calibration images (tests/lit/datasets/calib-range.test).

    check_calib_range.py IMAGES INPUT_SIZES MAX.json RULE=R.json ...

IMAGES is the number of calibration images, INPUT_SIZES the elements of each
layer's input (comma-separated, in the report's layer order).  For every
layer: max clips nothing; a pN range clips at most (1 - N/100) of the values
seen and lies within the max range; an mse range lies within it too; and at
least one layer is clipped by p99.9, so the rule did something."""
import json
import sys


def layers(path):
    return json.load(open(path))["layers"]


def main():
    images, sizes, max_path = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")], sys.argv[3]
    top = layers(max_path)
    assert len(top) == len(sizes), f"{len(top)} layers, {len(sizes)} input sizes"
    for layer in top:
        assert layer["act_clipped"] == 0, f"max clips {layer['name']}"
    clipped_somewhere = False
    for arg in sys.argv[4:]:
        rule, path = arg.split("=", 1)
        for layer, ref, size in zip(layers(path), top, sizes):
            seen = images * size
            assert 0 <= layer["act_clipped"] <= seen
            assert layer["act_max"] <= ref["act_max"] and layer["act_min"] >= ref["act_min"], \
                f"{rule}: {layer['name']} range [{layer['act_min']}, {layer['act_max']}] beyond max's"
            if rule.startswith("p"):
                allowed = (1 - float(rule[1:]) / 100) * seen
                assert layer["act_clipped"] <= allowed, \
                    f"{rule}: {layer['name']} clips {layer['act_clipped']} of {seen} (at most {allowed:.0f})"
                clipped_somewhere |= rule == "p99.9" and layer["act_clipped"] > 0
    assert clipped_somewhere, "p99.9 clipped no layer"
    print("calib-range: ok")


if __name__ == "__main__":
    main()
