"""Test helper: the inbound 811 map (``epoi/parsers/maps``) extended with what an error
return carries, so that tests can parse the error return back with pyx12.

This patch *is* the specification of what the map owner must add for the error return
(in the inbound map, or better in a separate error-return map_path so that inbound files
stay strictly checked):

- dataele.xml: data elements 349 (Item Description Type, ID 1/1) and 750 (Product/Process
  Characteristic Code, ID 2/3), used by PID01/PID02.
- 2100A (insurer name), 2000C (policy), 2000D (vehicle): an SI that may repeat, whose
  SI02/SI04/... qualifier also allows ``EC`` and whose SI03/SI05/... value also allows the
  E-codes; SI04 and SI05 situational; SI06..SI21 optional further pairs (P0405, P0607 ...).
  The insurer loop gets the SI at pos 070 (after REF*TJ).
- 2000B (state): HL04 also ``0`` and 2000C (policy) usage S, because a set without
  findings is answered with insurer and state levels only.
- after that SI (pos 035 in 2000C/2000D, 075 in 2100A): ``PID`` usage S, repeat >1, PID01
  (349, code ``F``), PID02..PID04 not used, PID05 (352, AN 1-80) required.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from epoi.parsers._maps import MAP_PATH, TRANSACTION_MAP_FILE
from epoi.transforms import CATALOGUE

E_CODES = tuple(CATALOGUE)


def _element(xid: str, data_ele: str, name: str, usage: str, seq: int,
             codes: tuple[str, ...] = ()) -> ET.Element:
    el = ET.Element("element", xid=xid)
    for tag, text in (("data_ele", data_ele), ("name", name), ("usage", usage),
                      ("seq", f"{seq:02d}")):
        ET.SubElement(el, tag).text = text
    if codes:
        valid = ET.SubElement(el, "valid_codes")
        for c in codes:
            ET.SubElement(valid, "code").text = c
    return el


def _segment(xid: str, name: str, pos: str, max_use: str) -> ET.Element:
    seg = ET.Element("segment", xid=xid)
    for tag, text in (("name", name), ("usage", "S"), ("pos", pos), ("max_use", max_use)):
        ET.SubElement(seg, tag).text = text
    return seg


def _pid(pos: str) -> ET.Element:
    pid = _segment("PID", "Error Message", pos, ">1")
    pid.append(_element("PID01", "349", "Item Description Type", "R", 1, ("F",)))
    pid.append(_element("PID02", "750", "Product/Process Characteristic Code", "N", 2))
    pid.append(_element("PID03", "559", "Agency Qualifier Code", "N", 3))
    pid.append(_element("PID04", "751", "Product Description Code", "N", 4))
    pid.append(_element("PID05", "352", "Error Message", "R", 5))
    return pid


def _widen_si(si: ET.Element) -> None:
    si.find("max_use").text = ">1"
    for syntax in si.findall("syntax"):
        si.remove(syntax)
    for el in si.findall("element"):
        seq = int(el.find("seq").text)
        if seq >= 2:
            codes = el.find("valid_codes")
            for code in ("EC",) if seq % 2 == 0 else E_CODES:
                ET.SubElement(codes, "code").text = code
        if seq >= 4:
            el.find("usage").text = "S"
    present = len(si.findall("element"))
    if present == 3:  # SI04 and SI05 too
        si.append(_element("SI04", "1000", "Service Characteristics Qualifier", "S", 4, ("EC",)))
        si.append(_element("SI05", "234", "Error Code", "S", 5, E_CODES))
    for seq in range(6, 22):
        pair = (("1000", "Service Characteristics Qualifier", ("EC",)) if seq % 2 == 0
                else ("234", "Error Code", E_CODES))
        si.append(_element(f"SI{seq:02d}", pair[0], pair[1], "S", seq, pair[2]))
    for first in range(4, 21, 2):
        ET.SubElement(si, "syntax").text = f"P{first:02d}{first + 1:02d}"
    # pyx12 wants syntax before the elements.
    syntaxes = si.findall("syntax")
    for s in syntaxes:
        si.remove(s)
    index = list(si).index(si.find("element"))
    for offset, s in enumerate(syntaxes):
        si.insert(index + offset, s)


def _insert_after(parent: ET.Element, anchor: ET.Element, *new: ET.Element) -> None:
    index = list(parent).index(anchor)
    for offset, node in enumerate(new, start=1):
        parent.insert(index + offset, node)


def error_return_map_path(tmp: Path) -> Path:
    target = tmp / "maps"
    shutil.copytree(MAP_PATH, target)

    dataele = ET.parse(target / "dataele.xml")
    root = dataele.getroot()
    known = {d.get("ele_num") for d in root}
    for num, kind, lo, hi, name in (("349", "ID", "1", "1", "Item Description Type"),
                                    ("750", "ID", "2", "3", "Product/Process Characteristic Code")):
        if num not in known:
            ET.SubElement(root, "data_ele", ele_num=num, data_type=kind, min_len=lo, max_len=hi,
                          name=name)
    dataele.write(target / "dataele.xml", encoding="UTF-8", xml_declaration=True)

    tree = ET.parse(target / TRANSACTION_MAP_FILE)
    loops = {loop.get("xid"): loop for loop in tree.iter("loop")}
    for xid in ("2000C", "2000D"):
        si = loops[xid].find("segment[@xid='SI']")
        _widen_si(si)
        _insert_after(loops[xid], si, _pid("035"))
    state_hl = loops["2000B"].find("segment[@xid='HL']")
    child_codes = state_hl.find("element[@xid='HL04']/valid_codes")
    if "0" not in {c.text for c in child_codes}:
        ET.SubElement(child_codes, "code").text = "0"
    loops["2000C"].find("usage").text = "S"
    insurer = loops["2100A"]
    si = _segment("SI", "Insurer Errors", "070", ">1")
    si.append(_element("SI01", "559", "Agency Qualifier Code", "R", 1, ("ZZ",)))
    si.append(_element("SI02", "1000", "Service Characteristics Qualifier", "R", 2, ("EC",)))
    si.append(_element("SI03", "234", "Error Code", "R", 3, E_CODES))
    _widen_si(si)
    _insert_after(insurer, insurer.findall("segment")[-1], si, _pid("075"))
    tree.write(target / TRANSACTION_MAP_FILE, encoding="UTF-8", xml_declaration=True)
    return target
