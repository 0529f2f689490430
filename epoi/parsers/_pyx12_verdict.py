"""From pyx12's error tree to the verdict: the codes pyx12's own 997 visitor
(``pyx12.error_997``) would put in the TA1, AK9, AK5, AK3 and AK4, with the engine's
departures (``_pyx12``), as an :class:`InterchangeVerdict`.

Messages never contain element values: pyx12's own messages quote them, so every message is
written anew from codes and positions."""

from __future__ import annotations

from typing import Any, Literal

from ..schemas.verdict import (
    GroupVerdict,
    InterchangeVerdict,
    Issue,
    Ta1,
    TransactionSetVerdict,
)
from ._codes import (
    AK3_TEXT,
    AK4_TEXT,
    GE_ELEMENT_CODE,
    GS_ELEMENT_CODE,
    IEA_ELEMENT_NOTE,
    ISA_ELEMENT_NOTE,
    ST_ELEMENT_CODE,
    ta1_for,
)
from ._compiled import compiled_811_map
from ._options import ValidationOptions
from ._pyx12_walk import Run, SetFacts, isa_fields
from ._reader import InterchangeText


def _first_seen(codes: list[str]) -> list[str]:
    out: list[str] = []
    for c in codes:
        if c not in out:
            out.append(c)
    return out


def _ta1(run: Run, chunk: InterchangeText, duplicate: bool, options: ValidationOptions) -> Ta1:
    """TA1 note code the way ``error_997.__get_isa_errors`` picks it, plus the profile's
    receiver and sender rules and the file-level findings pyx12 cannot see per chunk."""
    isa = run.errh.cur_isa_node
    codes: list[str] = []
    if duplicate:
        codes.append("025")
    if chunk.ending == "next_isa":
        codes.append("022")
    if isa is not None:
        isa_codes = [code for code, _text in isa.errors]
        if chunk.ending == "next_isa":
            # pyx12 saw the chunk end without an IEA; in the file it was the next ISA
            isa_codes = [c for c in isa_codes if c != "023"]
        codes += isa_codes
        for ele in isa.elements:
            refdes = getattr(getattr(ele, "map_node", None), "refdes", "") or ""
            table = IEA_ELEMENT_NOTE if refdes.startswith("IEA") else ISA_ELEMENT_NOTE
            if ele.errors and ele.ele_pos in table:
                codes.append(table[ele.ele_pos])
    if run.outside_segments:
        codes.append("024")
    f = run.isa_fields
    if len(f) == 17:
        if f[7].strip() != options.receiver_qualifier:
            codes.append("007")
        if f[8].strip() != options.receiver_id:
            codes.append("008")
        if (
            options.known_senders is not None
            and (f[5].strip(), f[6].strip()) not in options.known_senders
        ):
            codes.append("006")
    return ta1_for(codes)


def _element_codes(
    elements: list[Any],
    prefixes: tuple[str, str],
    tables: tuple[dict[int, str], dict[int, str]],
    default: str | None,
) -> list[str]:
    out: list[str] = []
    for ele in elements:
        if not ele.errors:
            continue
        refdes = getattr(getattr(ele, "map_node", None), "refdes", "") or ""
        table = tables[1] if refdes.startswith(prefixes[1]) else tables[0]
        code = table.get(ele.ele_pos, default)
        if code is not None:
            out.append(code)
    return out


def _loop_id(map_node: Any) -> str | None:
    """AK3-03: the loop the segment belongs to, or None in the heading, the detail wrapper
    and the envelope loops (those have a ``type`` in the map)."""
    parent = getattr(map_node, "parent", None)
    if parent is None or not parent.is_loop() or parent.type is not None:
        return None
    return parent.id


def _scope(err_seg: Any, facts: SetFacts | None) -> int | None:
    """The position of the HL of the policy an error segment rejects alone (guide §3, scope
    of a rejection): an error in a loop of a policy's HL subtree, not on an HL (an HL error
    breaks the hierarchy); None when the error is the set's."""
    policy = getattr(err_seg, "policy", -1)
    if facts is None or policy < 1 or (err_seg.seg_id or "") == "HL":
        return None
    parent = getattr(getattr(err_seg, "map_node", None), "parent", None)
    if parent is None or not parent.is_loop() or parent.id not in compiled_811_map().policy_loops:
        return None
    return facts.policy_hl.get(policy)


def _issues(err_st: Any, facts: SetFacts | None, scoped: bool) -> list[Issue]:
    """AK3/AK4 issues of one set, in the order pyx12's 997 visitor writes them; ``scoped``:
    the set is accepted, its errors inside policies name their policy."""
    out: list[Issue] = []
    for err_seg in err_st.children:
        position = err_seg.seg_count
        seg_id = err_seg.seg_id or ""
        map_node = getattr(err_seg, "map_node", None)
        loop = _loop_id(map_node)
        scope = _scope(err_seg, facts) if scoped else None
        policy_number = None
        if facts is not None and position in facts.policy_at:
            policy_number = facts.policy_numbers.get(facts.policy_at[position]) or None
        codes = [("8" if c == "SEG1" else c) for c, _s, _v in err_seg.errors]
        # pyx12's 997 writes an AK3 "8" above the AK4s of a segment; so does the ack writer,
        # from the AK4 issues, so it is not listed twice here.
        for code in _first_seen([c for c in codes if c in AK3_TEXT]):
            out.append(
                Issue(
                    code=code,
                    ack="AK3",
                    message=f"{seg_id}: {AK3_TEXT[code]}",
                    policy_number=policy_number,
                    segment_position=position,
                    segment_id=seg_id,
                    loop_id=loop,
                    policy_position=scope,
                )
            )
        for ele in err_seg.elements:
            node = getattr(ele, "map_node", None)
            element = getattr(node, "refdes", None) or f"{seg_id}{ele.ele_pos:02d}"
            for code, _s, _v in ele.errors:
                if code not in AK4_TEXT:
                    continue
                out.append(
                    Issue(
                        code=code,
                        ack="AK4",
                        message=f"{element}: {AK4_TEXT[code]}",
                        policy_number=policy_number,
                        segment_position=position,
                        segment_id=seg_id,
                        loop_id=loop,
                        element=element,
                        element_position=ele.ele_pos,
                        component_position=ele.subele_pos,
                        data_element=ele.ele_ref_num,
                        policy_position=scope,
                    )
                )
    return out


def _set_verdict(err_st: Any, run: Run, options: ValidationOptions) -> TransactionSetVerdict:
    facts = run.set_facts.get(id(err_st))
    codes = [code for code, _t in err_st.errors]
    # Errors inside policies reject those policies alone; any other is the set's (guide §3).
    rejected: set[int] = set()
    for child in err_st.children:
        if child.err_count() > 0:
            scope = _scope(child, facts)
            if scope is None:
                codes.append("5")
            else:
                rejected.add(scope)
    codes += _element_codes(
        err_st.elements, ("ST", "SE"), (ST_ELEMENT_CODE, ST_ELEMENT_CODE), None
    )
    if not err_st.is_closed():
        codes.append("2")  # no SE before the GE (or the end of the file)
    if codes and rejected:
        codes.append("5")  # the set is rejected: the errors inside its policies are its own
    codes = sorted(set(codes), key=lambda c: (len(c), c))
    ack: Literal["A", "E", "R"]
    if codes:
        ack = "R"
    elif rejected:
        ack, codes = "E", ["5"]  # accepted, errors noted: the policies in error are rejected
    else:
        ack = "R" if err_st.ack_code != "A" else "A"
    issues = _issues(err_st, facts, scoped=ack == "E")
    limit = max(options.max_errors_per_set, 0)
    return TransactionSetVerdict(
        control_number=(err_st.trn_set_control_num or "").strip(),
        id_code=err_st.trn_set_id or "",
        ack_code=ack,
        error_codes=codes,
        policies=facts.policies if facts else 0,
        vehicles=facts.vehicles if facts else 0,
        errors=issues[:limit],
        errors_truncated=max(len(issues) - limit, 0),
        rejected_policies=sorted(rejected) if ack == "E" else [],
    )


def _group_verdict(err_gs: Any, run: Run, options: ValidationOptions) -> GroupVerdict:
    seg = err_gs.seg_data
    sets = [_set_verdict(st, run, options) for st in err_gs.children]
    codes = [code for code, _t in err_gs.errors]
    codes += _element_codes(
        err_gs.elements, ("GS", "GE"), (GS_ELEMENT_CODE, GE_ELEMENT_CODE), "1"
    )
    if id(err_gs) in run.unmapped_groups and not codes:
        codes.append("1")  # a GS pyx12 has no map for, though its codes pass the envelope map
    if not err_gs.is_closed():
        codes.append("3")  # no GE before the IEA (pyx12 only says so at the end of the file)
    codes = sorted(set(codes), key=lambda c: (len(c), c))
    received = err_gs.st_count_recv if err_gs.is_closed() else len(err_gs.children)
    accepted = sum(1 for s in sets if s.ack_code in ("A", "E"))
    if id(err_gs) in run.unmapped_groups:
        accepted = 0
    rejected_sets = received - accepted
    ack: Literal["A", "E", "R"]
    if codes or rejected_sets:
        ack = "R"
    elif any(s.ack_code == "E" for s in sets):
        ack = "E"  # pyx12 counts the errors of an AK5 E set against the group too
    else:
        ack = "R" if err_gs.ack_code not in (None, "A") else "A"
    return GroupVerdict(
        control_number=(seg.get_value("GS06") or "").strip(),
        functional_id=seg.get_value("GS01") or "",
        version=seg.get_value("GS08") or "",
        sender=(seg.get_value("GS02") or "").strip(),
        receiver=(seg.get_value("GS03") or "").strip(),
        ack_code=ack,
        error_codes=codes,
        sets_included=err_gs.st_count_orig or 0,
        sets_received=received,
        sets_accepted=accepted,
        transaction_sets=sets,
    )


def interchange_verdict(
    chunk: InterchangeText,
    run: Run | None,
    duplicate: bool,
    options: ValidationOptions,
    ta1: Ta1 | None = None,
) -> InterchangeVerdict:
    """The verdict of one interchange: from pyx12's ``run`` of it, or, with no run (a
    version pyx12 cannot read), its ISA fields and the ``ta1`` given."""
    f = isa_fields(chunk)
    d = chunk.delimiters
    groups: list[GroupVerdict] = []
    if run is not None:
        ta1 = _ta1(run, chunk, duplicate, options)
        isa_node = run.errh.cur_isa_node
        if isa_node is not None:
            groups = [_group_verdict(gs, run, options) for gs in isa_node.children]
    return InterchangeVerdict(
        control_number=f[13].strip(),
        sender_qualifier=f[5].strip(),
        sender_id=f[6].strip(),
        receiver_qualifier=f[7].strip(),
        receiver_id=f[8].strip(),
        date=f[9],
        time=f[10],
        version=f[12],
        test=f[15] == "T",
        ack_requested=f[14] == "1",
        element_separator=d.element,
        component_separator=d.component,
        segment_terminator=d.segment,
        ta1=ta1 or Ta1(),
        groups=groups,
    )
