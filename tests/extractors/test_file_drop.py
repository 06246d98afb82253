import datetime as dt
import json

from config.contracts import load_contract
from extractors.file_drop import discover_files, land_files, sniff_format

CONTRACT = load_contract("birth_certificates")


def test_land_copies_unchanged_with_manifest(tmp_path):
    drop = tmp_path / "drop"
    night = drop / "01929" / "birth_certificates" / "2026-11-21"
    night.mkdir(parents=True)
    (night / "a.csv").write_bytes(b"ma_gcs\nx\n")
    (night / "b.xml").write_text("<HSDLGCS><GIAYCHUNGSINH/></HSDLGCS>")
    (night / ".partial").write_text("ignored")
    (drop / "01929" / "birth_certificates" / "2026-11-22").mkdir()
    files = discover_files(drop, "01929", "birth_certificates", dt.date(2026, 11, 21))
    assert [f.name for f in files] == ["a.csv", "b.xml"]
    raw = tmp_path / "raw"
    landed = land_files(files, drop, raw, CONTRACT)
    assert (raw / "a.csv").read_bytes() == b"ma_gcs\nx\n"
    assert [lf.format for lf in landed] == ["csv", "pl02"]
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["files"][0]["name"] == "01929/birth_certificates/2026-11-21/a.csv"
    assert len(manifest["files"][0]["sha256"]) == 64 and manifest["files"][0]["size"] == 9


def test_no_folder_no_files(tmp_path):
    assert discover_files(tmp_path, "01929", "birth_certificates", dt.date(2026, 11, 21)) == []


def test_sniff_xml_by_root(tmp_path):
    p = tmp_path / "x.xml"
    p.write_text("<GIAMDINHHS/>")
    assert sniff_format(p, CONTRACT) == "xml9"
    p.write_text("<SOMETHING/>")
    assert sniff_format(p, CONTRACT) is None
