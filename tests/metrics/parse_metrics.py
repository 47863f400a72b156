#!/usr/bin/python3
"""Parses a --metrics-file with Prometheus' own Python parser.

Usage: parse_metrics.py FILE

Prints one JSON object: {"types": {family: type}, "samples": {series: value}}
where a series is name{label="value",...} with the labels sorted. Exits 1
with a message when the file does not parse, a family has no TYPE (the
parser then calls it "unknown"), a family has no HELP, or a series appears
twice -- what node_exporter's textfile collector would refuse or mangle.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def series(name, labels):
    if not labels:
        return name
    inner = ",".join('{}="{}"'.format(k, labels[k]) for k in sorted(labels))
    return name + "{" + inner + "}"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: parse_metrics.py FILE")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        sys.exit("parse_metrics: the file does not end with a newline")
    out = {"types": {}, "samples": {}}
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        sys.exit("parse_metrics: {}: {}".format(sys.argv[1], e))
    for fam in families:
        if fam.type == "unknown":
            sys.exit("parse_metrics: {} has no TYPE".format(fam.name))
        if not fam.documentation:
            sys.exit("parse_metrics: {} has no HELP".format(fam.name))
        if fam.name in out["types"]:
            sys.exit("parse_metrics: {} declared twice".format(fam.name))
        out["types"][fam.name] = fam.type
        for s in fam.samples:
            key = series(s.name, s.labels)
            if key in out["samples"]:
                sys.exit("parse_metrics: {} appears twice".format(key))
            out["samples"][key] = s.value
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
