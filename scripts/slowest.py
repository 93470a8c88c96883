"""Prints the slowest tests of a cargo-nextest JUnit report, then the totals
as a closing line ('N passed, N failed')."""
import sys
import xml.etree.ElementTree as ET

report = ET.parse(sys.argv[1]).getroot()
cases = []
for case in report.iter("testcase"):
    failed = case.find("failure") is not None or case.find("error") is not None
    cases.append((float(case.get("time", "0")), case.get("classname", ""), case.get("name", ""), failed))
cases.sort(reverse=True)
total = sum(t for t, *_ in cases)
print(f"\nslowest tests (of {len(cases)}, {total:.0f} s of test time in all):")
for t, binary, name, failed in cases[:15]:
    print(f"  {t:7.1f} s  {binary} {name}{'  FAILED' if failed else ''}")
failed = sum(1 for *_, f in cases if f)
print(f"{len(cases) - failed} passed, {failed} failed")
