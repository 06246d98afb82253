"""XML attack classes, on the outer file and on the base64 XML9 document inside an envelope.

Each attack must be *refused and reported as such* (not as "not one of this dataset's source
formats", not as "not well-formed"), and nothing it points at may be read: a marker file's content
never appears in the output, and a live HTTP listener on 127.0.0.1 named by the DTD receives no
connection.
"""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path

import pytest

from config.contracts import load_contract
from extractors.file_drop import sniff_format
from extractors.formats import FileRejected, parse_inner_document, read_flat_document, read_giamdinhhs_xml9

SECRET = "TOP-SECRET-MARKER-7731"
RECORD = "<GIAYCHUNGSINH><MA_GCS>{value}</MA_GCS><HO_TEN_NND>Lê Thị A</HO_TEN_NND></GIAYCHUNGSINH>"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that counts connections (an 'external DTD server')."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            hits.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", hits
    stop.set()
    thread.join(2)
    srv.close()


def _attacks(secret: Path, url: str) -> dict[str, tuple[str, str]]:
    """name -> (DOCTYPE prolog, value placed in MA_GCS), and the detail the reason must carry."""
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return {
        "internal-entity": (f'<!DOCTYPE HSDLGCS [<!ENTITY e "{SECRET}">]>', "&e;", "entity declarations"),
        "external-entity-file": (f'<!DOCTYPE HSDLGCS [<!ENTITY e SYSTEM "file://{secret}">]>', "&e;",
                                 "external references"),
        "external-entity-http": (f'<!DOCTYPE HSDLGCS [<!ENTITY e SYSTEM "{url}/e.txt">]>', "&e;",
                                 "external references"),
        "parameter-entity": (f'<!DOCTYPE HSDLGCS [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>', "x",
                             "external references"),
        "billion-laughs": (f'<!DOCTYPE HSDLGCS [<!ENTITY l0 "lol">{lol}]>', "&l9;", "entity declarations"),
        "quadratic-blowup": (f'<!DOCTYPE HSDLGCS [<!ENTITY a "{"A" * 50_000}">]>', "&a;" * 2000,
                             "entity declarations"),
        "dtd-alone-internal": ("<!DOCTYPE HSDLGCS [<!ELEMENT HSDLGCS ANY>]>", "x", "a DTD"),
        "dtd-alone-external": (f'<!DOCTYPE HSDLGCS SYSTEM "{url}/hsdlgcs.dtd">', "x", "external references"),
        "dtd-after-comment": (f'<!-- header --><?pi x?>\n<!DOCTYPE HSDLGCS [<!ENTITY e "{SECRET}">]>', "&e;",
                              "entity declarations"),
    }


ATTACKS = ["internal-entity", "external-entity-file", "external-entity-http", "parameter-entity", "billion-laughs",
           "quadratic-blowup", "dtd-alone-internal", "dtd-alone-external", "dtd-after-comment"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_flat_document_attack_is_rejected_as_such(tmp_path, secret_file, listener, attack):
    url, hits = listener
    prolog, value, detail = _attacks(secret_file, url)[attack]
    path = tmp_path / "evil.xml"
    path.write_text(f"<?xml version='1.0' encoding='utf-8'?>\n{prolog}<HSDLGCS>{RECORD.format(value=value)}</HSDLGCS>",
                    encoding="utf-8")
    # The drop sniffs it as the flat format (root found past the DTD) ...
    assert sniff_format(path, load_contract("birth_certificates")) == "pl02"
    # ... and the reader refuses it for the DTD, naming what the DTD holds and no content.
    with pytest.raises(FileRejected) as err:
        list(read_flat_document(path, 10))
    reason = err.value.reason
    assert reason.startswith("XML declares a DTD or entities (forbidden)") and detail in reason
    assert SECRET not in reason and "Lê" not in reason
    assert hits == []


def _envelope(inner: bytes, *, outer_prolog: str = "") -> str:
    good = base64.b64encode(
        b"<CHI_TIEU><DSACH><DU_LIEU_GIAY_CHUNG_SINH><SO>00002.GCS.01929.26</SO></DU_LIEU_GIAY_CHUNG_SINH></DSACH></CHI_TIEU>"
).decode()
    return (f"<?xml version='1.0' encoding='utf-8'?>{outer_prolog}<GIAMDINHHS><THONGTINDONVI><MACSKCB>01929</MACSKCB>"
            "</THONGTINDONVI><THONGTINHOSO><DANHSACHHOSO>"
            f"<HOSO><FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>{base64.b64encode(inner).decode()}</NOIDUNGFILE>"
            "</FILEHOSO></HOSO>"
            f"<HOSO><FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>{good}</NOIDUNGFILE></FILEHOSO></HOSO>"
            "</DANHSACHHOSO></THONGTINHOSO></GIAMDINHHS>")


@pytest.mark.parametrize("attack", ATTACKS)
def test_xml9_outer_attack_is_rejected_as_such(tmp_path, secret_file, listener, attack):
    url, hits = listener
    prolog, value, detail = _attacks(secret_file, url)[attack]
    prolog = prolog.replace("HSDLGCS", "GIAMDINHHS")
    path = tmp_path / "evil.xml"
    inner = b"<CHI_TIEU><DU_LIEU_GIAY_CHUNG_SINH><SO>1</SO></DU_LIEU_GIAY_CHUNG_SINH></CHI_TIEU>"
    path.write_text(_envelope(inner, outer_prolog=prolog).replace("<MACSKCB>01929", f"<MACSKCB>{value}"),
                    encoding="utf-8")
    assert sniff_format(path, load_contract("birth_certificates")) == "xml9"
    with pytest.raises(FileRejected) as err:
        list(read_giamdinhhs_xml9(path, 10))
    assert err.value.reason.startswith("XML declares a DTD or entities (forbidden)") and detail in err.value.reason
    assert hits == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_xml9_inner_document_attack_is_a_row_error_and_resolves_nothing(tmp_path, secret_file, listener, attack,
                                                                        encoding):
    """The base64 document inside the envelope gets the same refusal, as that HOSO's reader error;
    the other HOSO of the file is read. If the inner parse resolved entities (a planted bug: a
    parser without the DOCTYPE scan), the secret would appear in a value and this test fails."""
    url, hits = listener
    prolog, value, detail = _attacks(secret_file, url)[attack]
    prolog = prolog.replace("HSDLGCS", "CHI_TIEU")
    decl = f"<?xml version='1.0' encoding='{encoding}'?>\n"
    inner = (decl + prolog + f"<CHI_TIEU><DSACH><DU_LIEU_GIAY_CHUNG_SINH><SO>{value}</SO></DU_LIEU_GIAY_CHUNG_SINH>"
             "</DSACH></CHI_TIEU>").encode(encoding)
    path = tmp_path / "env.xml"
    path.write_text(_envelope(inner), encoding="utf-8")
    rows = [r for t in read_giamdinhhs_xml9(path, 10) for r in t.to_pylist()]
    assert len(rows) == 2
    bad, good = rows
    assert bad["_source_ref"] == "HOSO[1]"
    assert bad["_reader_error"].startswith("XML9 content: XML declares a DTD or entities (forbidden)")
    assert detail in bad["_reader_error"]
    assert good["SO"] == "00002.GCS.01929.26" and good["_reader_error"] is None
    assert not any(SECRET in str(v) or "lol" in str(v) for r in rows for v in r.values())
    assert hits == []


@pytest.mark.parametrize("attack", ["internal-entity", "external-entity-file", "billion-laughs"])
def test_parse_inner_document_itself_refuses_entities(secret_file, attack):
    """The inner-document parser on its own (the planted-bug target): a DTD raises FileRejected
    before any entity is expanded."""
    prolog, value, _detail = _attacks(secret_file, "http://127.0.0.1:9")[attack]
    data = f"<?xml version='1.0'?>{prolog.replace('HSDLGCS', 'R')}<R><A>{value}</A></R>".encode()
    with pytest.raises(FileRejected, match="DTD or entities"):
        parse_inner_document(data)


def test_undeclared_entity_without_dtd_is_reported_as_an_entity(tmp_path):
    path = tmp_path / "e.xml"
    path.write_text("<HSDLGCS>" + RECORD.format(value="&e;") + "</HSDLGCS>", encoding="utf-8")
    with pytest.raises(FileRejected, match="undeclared entity"):
        list(read_flat_document(path, 10))


@pytest.mark.parametrize("where", ["flat", "inner"])
def test_xinclude_is_never_processed_and_refused(tmp_path, secret_file, where):
    xi = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret_file}" parse="text"/>'
    if where == "flat":
        path = tmp_path / "x.xml"
        path.write_text(f"<HSDLGCS><GIAYCHUNGSINH>{xi}<MA_GCS>1</MA_GCS></GIAYCHUNGSINH>"
                        f"{RECORD.format(value='2')}</HSDLGCS>", encoding="utf-8")
        rows = [r for t in read_flat_document(path, 10) for r in t.to_pylist()]
        assert rows[0]["_reader_error"].startswith("record contains an XInclude element")
        assert rows[1]["MA_GCS"] == "2" and rows[1]["_reader_error"] is None
    else:
        inner = (f"<CHI_TIEU><DU_LIEU_GIAY_CHUNG_SINH>{xi}<SO>1</SO></DU_LIEU_GIAY_CHUNG_SINH></CHI_TIEU>").encode()
        path = tmp_path / "env.xml"
        path.write_text(_envelope(inner), encoding="utf-8")
        rows = [r for t in read_giamdinhhs_xml9(path, 10) for r in t.to_pylist()]
        assert rows[0]["_reader_error"].startswith("record contains an XInclude element")
    assert not any(SECRET in str(v) for r in rows for v in r.values())


def test_doctype_after_the_root_is_not_well_formed(tmp_path):
    path = tmp_path / "late.xml"
    path.write_text('<HSDLGCS><!DOCTYPE x [<!ENTITY e "v">]><GIAYCHUNGSINH/></HSDLGCS>', encoding="utf-8")
    with pytest.raises(FileRejected, match="not well-formed"):
        list(read_flat_document(path, 10))


def test_control_character_in_xml_is_named(tmp_path):
    path = tmp_path / "nul.xml"
    path.write_bytes(b"<HSDLGCS><GIAYCHUNGSINH><MA_GCS>1\x00</MA_GCS></GIAYCHUNGSINH></HSDLGCS>")
    with pytest.raises(FileRejected, match="control character XML does not allow at line 1"):
        list(read_flat_document(path, 10))
