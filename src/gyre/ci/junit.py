"""JUnit XML, the report format CI servers display (GitHub, Azure Pipelines, GitLab)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from gyre.ci.gates import GateResult


def write(results: list[GateResult], path: Path, suite: str = "gyre ci check") -> None:
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(sum(r.status == "failed" for r in results)),
        skipped=str(sum(r.status == "skipped" for r in results)),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            root, "testcase", classname="gyre.ci", name=result.name, time=f"{result.seconds:.3f}"
        )
        if result.status == "failed":
            failure = ET.SubElement(case, "failure", message=result.summary, type="GateFailed")
            failure.text = result.details or result.summary
        elif result.status == "skipped":
            ET.SubElement(case, "skipped", message=result.summary)
        else:
            ET.SubElement(case, "system-out").text = result.summary
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.partial")
    ET.ElementTree(root).write(temp, encoding="utf-8", xml_declaration=True)
    temp.replace(path)
