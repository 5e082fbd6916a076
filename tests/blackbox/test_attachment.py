"""The Attachment API (issue 13, item 1): /api/now/[v1/]attachment.

Shapes as reference section 3.2 gives them (every value a string, download_link, the SHA-256
hex of the content in hash, Location on 201), the calls PySNC and Ansible make, the errors
(missing table, record, rights, parameters; malformed multipart; too large: 413), the parent
record's ACLs, the delete cascade, memory that does not grow with the file, and uploads that
survive SIGKILL.  On PostgreSQL too (SG_TEST_DB=postgresql, make blackbox-pg-full): content is
in the database there, and content_files reads it from the content table.
"""
import glob
import hashlib
import json
import os
import subprocess

import pytest
import requests

from conftest import ON_PG, PASSWORD, Server, acked_across_sigkill, as_user, nowctl, pg_cluster

FIELDS = {"average_image_color", "chunk_size_bytes", "compressed", "content_type", "created_by_name",
          "download_link", "encryption_context", "file_name", "hash", "image_height", "image_width",
          "size_bytes", "size_compressed", "state", "sys_created_by", "sys_created_on", "sys_id",
          "sys_mod_count", "sys_tags", "sys_updated_by", "sys_updated_on", "table_name", "table_sys_id",
          "updated_by_name"}
NO_RECORD = {"error": {"message": "No Record found",
                       "detail": "Record doesn't exist or ACL restricts the record retrieval"},
             "status": "failure"}


def bad_param(detail):
    return {"error": {"message": "Invalid parameter", "detail": detail}, "status": "failure"}


@pytest.fixture(scope="module")
def inst():
    s = Server()
    nowctl(s, "user", "add", "att.itil", "--password", "Att-itil-pass-1", "--role", "itil")
    nowctl(s, "user", "add", "att.nobody", "--password", "Att-nobody-pass-1")
    nowctl(s, "user", "add", "att.internal", "--password", "Att-internal-pass-1", "--role", "snc_internal")
    s.itil = as_user(s, "att.itil", "Att-itil-pass-1")
    s.nobody = as_user(s, "att.nobody", "Att-nobody-pass-1")
    s.internal = as_user(s, "att.internal", "Att-internal-pass-1")
    s.internal_id = s.get("/api/now/table/sys_user",
                          params={"user_name": "att.internal"}).json()["result"][0]["sys_id"]
    yield s
    s.stop()


def incident(s, **fields):
    r = s.post("/api/now/table/incident", json={"short_description": "with attachments", **fields})
    assert r.status_code == 201, r.text
    return r.json()["result"]["sys_id"]


def upload(s, table, sys_id, name, data, ctype="text/plain", call=None, prefix="/api/now", **extra):
    params = {"table_name": table, "table_sys_id": sys_id, "file_name": name, **extra}
    headers = {"Content-Type": ctype} if ctype else {}
    if call:
        return call("POST", prefix + "/attachment/file", params=params, data=data, headers=headers)
    return s.post(prefix + "/attachment/file", params=params, data=data, headers=headers)


def content_folder(s):
    """The folder of s's content files: beside the SQLite database, or on PostgreSQL the
    node's cache of the database's content ($XDG_DATA_HOME/snowglobe/attachments/HOST-PORT-DB)."""
    if ON_PG:
        found = glob.glob(os.path.join(os.environ["XDG_DATA_HOME"], "snowglobe", "attachments",
                                       "*-" + s.dbname))
        assert len(found) == 1, found
        return found[0]
    return os.path.join(s.data, "attachments")


def content_files(s):
    """The hashes of the content s keeps: files beside the SQLite database, or on PostgreSQL
    the chunks in the database (the folder there is a cache)."""
    if ON_PG:
        r = subprocess.run([pg_cluster().psql, "-XAt", "-d", pg_cluster().database_url(s.dbname), "-c",
                            "SELECT DISTINCT hash FROM sg_attachment_content"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return set(r.stdout.split())
    root = os.path.join(s.data, "attachments")
    return {f for d in os.listdir(root) if len(d) == 2 for f in os.listdir(os.path.join(root, d))}


# ---- shapes --------------------------------------------------------------------------------

def test_raw_upload_answers_201_with_the_record_and_location(inst):
    inc = incident(inst)
    data = b"first line\nsecond line\n"
    r = upload(inst, "incident", inc, "notes.txt", data)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    rec = r.json()["result"]
    assert set(rec) == FIELDS
    assert all(isinstance(v, str) for v in rec.values())
    assert r.headers["Location"] == f"{inst.url}/api/now/attachment/{rec['sys_id']}/file"
    assert rec["download_link"] == f"{inst.url}/api/now/attachment/{rec['sys_id']}/file"
    assert rec["hash"] == hashlib.sha256(data).hexdigest()
    assert (rec["file_name"], rec["content_type"], rec["table_name"], rec["table_sys_id"]) == \
        ("notes.txt", "text/plain", "incident", inc)
    assert (rec["size_bytes"], rec["size_compressed"], rec["compressed"]) == (str(len(data)), str(len(data)), "false")
    assert (rec["sys_created_by"], rec["created_by_name"], rec["sys_mod_count"]) == ("admin", "admin", "0")
    # the v1 path: Location under it; extra parameters (Ansible's content_type, hash) ignored
    r = upload(inst, "incident", inc, "b.bin", b"\x00\x01\xff", ctype="application/octet-stream",
               prefix="/api/now/v1", content_type="x/y", hash="abc")
    assert r.status_code == 201, r.text
    rec = r.json()["result"]
    assert r.headers["Location"] == f"{inst.url}/api/now/v1/attachment/{rec['sys_id']}/file"
    assert rec["content_type"] == "application/octet-stream"


def test_metadata_and_content(inst):
    inc = incident(inst)
    data = bytes(range(256)) * 40
    rec = upload(inst, "incident", inc, "bytes.dat", data, ctype="image/png").json()["result"]
    r = inst.get(f"/api/now/attachment/{rec['sys_id']}")
    assert r.status_code == 200
    assert r.json() == {"result": rec}
    r = inst.get(f"/api/now/v1/attachment/{rec['sys_id']}/file")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Content-Disposition"] == "attachment; filename=\"bytes.dat\"; filename*=UTF-8''bytes.dat"
    assert json.loads(r.headers["X-Attachment-Metadata"]) == rec
    # a file name a header cannot hold as is
    rec = upload(inst, "incident", inc, 'a"b\u00e9.txt', b"x").json()["result"]
    assert rec["file_name"] == 'a"b\u00e9.txt'
    r = inst.get(f"/api/now/attachment/{rec['sys_id']}/file")
    assert r.headers["Content-Disposition"] == \
        "attachment; filename=\"a_b__.txt\"; filename*=UTF-8''a%22b%C3%A9.txt"
    assert r.headers["X-Attachment-Metadata"].isascii()
    assert json.loads(r.headers["X-Attachment-Metadata"]) == rec


def test_missing_attachments_are_404(inst):
    for path in ("/api/now/attachment/0123456789abcdef0123456789abcdef",
                 "/api/now/attachment/0123456789abcdef0123456789abcdef/file",
                 "/api/now/attachment/not-an-id"):
        r = inst.get(path)
        assert r.status_code == 404, path
        assert r.json() == NO_RECORD
    r = inst.delete("/api/now/attachment/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404 and r.json() == NO_RECORD


def test_list_as_pysnc_and_ansible_call_it(inst):
    inc, other = incident(inst), incident(inst)
    names = ["c.txt", "a.txt", "b.txt"]
    ids = {n: upload(inst, "incident", inc, n, n.encode()).json()["result"]["sys_id"] for n in names}
    upload(inst, "incident", other, "z.txt", b"z")
    # Ansible: name=value filters, sysparm_limit/offset, x-total-count
    r = inst.get("/api/now/attachment", params={"table_name": "incident", "table_sys_id": inc,
                                                "sysparm_limit": "10000", "sysparm_offset": "0"})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "3"
    assert sorted(x["sys_id"] for x in r.json()["result"]) == sorted(ids.values())
    # PySNC: sysparm_query with its standard parameters
    r = inst.get("/api/now/v1/attachment", params={
        "sysparm_query": f"table_name=incident^table_sys_id={inc}^ORDERBYfile_name",
        "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true",
        "sysparm_suppress_pagination_header": "true"})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "3"
    assert "Link" not in r.headers
    result = r.json()["result"]
    assert [x["file_name"]["value"] for x in result] == ["a.txt", "b.txt", "c.txt"]
    assert result[0]["download_link"] == f"{inst.url}/api/now/attachment/{ids['a.txt']}/file"
    # paging, descending order, Link
    r = inst.get("/api/now/attachment", params={"sysparm_query": f"table_sys_id={inc}^ORDERBYDESCfile_name",
                                                "sysparm_limit": "2", "sysparm_offset": "1"})
    assert r.headers["X-Total-Count"] == "3"
    assert [x["file_name"] for x in r.json()["result"]] == ["b.txt", "a.txt"]
    link = r.headers["Link"]
    assert 'sysparm_limit=2&sysparm_offset=0>;rel="first"' in link
    assert 'sysparm_limit=2&sysparm_offset=1>;rel="last"' in link
    assert 'rel="next"' not in link
    r = inst.get("/api/now/attachment", params={"sysparm_limit": "abc"})
    assert r.status_code == 400


def test_multipart_upload(inst):
    inc = incident(inst)
    data = b"--not the boundary\r\n" * 500
    r = inst.post("/api/now/attachment/upload", files=[
        ("table_name", (None, "incident")), ("table_sys_id", (None, inc)),
        ("uploadFile", ("report.csv", data, "text/csv"))])
    assert r.status_code == 201, r.text
    rec = r.json()["result"]
    assert set(rec) == FIELDS
    assert r.headers["Location"] == f"{inst.url}/api/now/attachment/{rec['sys_id']}/file"
    assert (rec["file_name"], rec["content_type"], rec["size_bytes"], rec["hash"]) == \
        ("report.csv", "text/csv", str(len(data)), hashlib.sha256(data).hexdigest())
    assert inst.get(f"/api/now/attachment/{rec['sys_id']}/file").content == data


# ---- errors --------------------------------------------------------------------------------

def test_raw_upload_errors(inst):
    inc = incident(inst)
    for missing in ("table_name", "table_sys_id", "file_name"):
        params = {"table_name": "incident", "table_sys_id": inc, "file_name": "a.txt"}
        del params[missing]
        r = inst.post("/api/now/attachment/file", params=params, data=b"x")
        assert r.status_code == 400
        assert r.json() == bad_param(f"Missing parameter: {missing}")
    r = upload(inst, "no_such_table", inc, "a.txt", b"x")
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "Invalid table no_such_table", "detail": None}, "status": "failure"}
    r = upload(inst, "incident", "0123456789abcdef0123456789abcdef", "a.txt", b"x")
    assert r.status_code == 404 and r.json() == NO_RECORD
    r = requests.post(inst.url + "/api/now/attachment/file",
                      params={"table_name": "incident", "table_sys_id": inc, "file_name": "a.txt"}, data=b"x")
    assert r.status_code == 401
    # nothing of the refused uploads was kept
    assert inst.get("/api/now/attachment", params={"table_sys_id": inc}).headers["X-Total-Count"] == "0"


def test_multipart_errors(inst):
    inc = incident(inst)
    url = "/api/now/attachment/upload"
    good = [("table_name", (None, "incident")), ("table_sys_id", (None, inc)), ("f", ("a.txt", b"x", "text/plain"))]
    r = inst.post(url, files=good[1:])
    assert r.status_code == 400 and r.json() == bad_param("Missing parameter: table_name")
    r = inst.post(url, files=[good[0], good[2]])
    assert r.status_code == 400 and r.json() == bad_param("Missing parameter: table_sys_id")
    r = inst.post(url, files=good[:2])
    assert r.status_code == 400 and r.json() == bad_param("The multipart body holds no file part")
    r = inst.post(url, files=good + [("g", ("b.txt", b"y", "text/plain"))])
    assert r.status_code == 400 and r.json() == bad_param("The file part was refused")
    r = inst.post(url, data=b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx",
                  headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert r.status_code == 400
    assert r.json() == bad_param("The multipart body ends before its closing delimiter")
    r = inst.post(url, data=b"x", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json() == bad_param("The request is not multipart/form-data")
    r = inst.post(url, data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400
    assert r.json() == bad_param("The multipart/form-data Content-Type has no boundary")
    r = inst.post(url, files=[("table_name", (None, "nope")), good[1], good[2]])
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table nope"
    assert inst.get("/api/now/attachment", params={"table_sys_id": inc}).headers["X-Total-Count"] == "0"


def test_size_limit_is_the_attachment_property_with_413(fresh):
    inc = incident(fresh)
    # the REST body limit does not govern attachments
    fresh.set_property("glide.rest.max_content_length", "1000")
    r = upload(fresh, "incident", inc, "big.bin", b"b" * 5000)
    assert r.status_code == 201, r.text
    fresh.set_property("com.glide.attachment.max_size", "1")
    too_large = {"error": {"message": "Request Entity Too Large",
                           "detail": f"Attachment of {1024 * 1024 + 1} bytes exceeds the maximum attachment "
                                     "size of 1 MB"}, "status": "failure"}
    r = upload(fresh, "incident", inc, "big.bin", b"b" * (1024 * 1024 + 1))
    assert r.status_code == 413
    assert r.json() == too_large
    # chunked: no Content-Length, refused once the body passes the limit
    r = upload(fresh, "incident", inc, "big.bin", (b"c" * 4096 for _ in range(300)))
    assert r.status_code == 413
    assert r.json()["error"]["message"] == "Request Entity Too Large"
    files = [("table_name", (None, "incident")), ("table_sys_id", (None, inc)),
             ("f", ("m.bin", b"m" * (1024 * 1024 + 10), "text/plain"))]
    r = fresh.post("/api/now/attachment/upload", files=files)
    assert r.status_code == 413
    r = upload(fresh, "incident", inc, "fits.bin", b"f" * (1024 * 1024))
    assert r.status_code == 201
    assert fresh.get("/api/now/attachment", params={"table_sys_id": inc}).headers["X-Total-Count"] == "2"
    # no temporary file is left behind by the refusals
    leftovers = [f for f in os.listdir(content_folder(fresh)) if f.startswith(".upload")]
    assert not leftovers


def test_extension_allow_list(fresh):
    inc = incident(fresh)
    fresh.set_property("glide.attachment.extensions", "txt, .PDF")
    assert upload(fresh, "incident", inc, "a.TXT", b"x").status_code == 201
    assert upload(fresh, "incident", inc, "a.pdf", b"x").status_code == 201
    r = upload(fresh, "incident", inc, "a.exe", b"x")
    assert r.status_code == 403
    assert r.json() == {"error": {"message": "Operation Failed",
                                  "detail": "The file extension of 'a.exe' is not allowed"}, "status": "failure"}
    assert upload(fresh, "incident", inc, "noext", b"x").status_code == 403
    fresh.set_property("glide.attachment.extensions", "")
    assert upload(fresh, "incident", inc, "a.exe", b"x").status_code == 201


# ---- the parent's ACLs ---------------------------------------------------------------------

def test_reading_follows_the_parent(inst):
    inc = incident(inst)
    mine = incident(inst, caller_id=inst.internal_id)
    att = upload(inst, "incident", inc, "secret.txt", b"secret").json()["result"]["sys_id"]
    own = upload(inst, "incident", mine, "own.txt", b"own").json()["result"]["sys_id"]
    # itil reads every incident: both
    r = inst.itil("GET", "/api/now/attachment", params={"sysparm_query": f"table_sys_idIN{inc},{mine}"})
    assert r.headers["X-Total-Count"] == "2" and len(r.json()["result"]) == 2
    # snc_internal reads the incidents they are the caller of: one, counted as one
    r = inst.internal("GET", "/api/now/attachment", params={"sysparm_query": f"table_sys_idIN{inc},{mine}"})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "1"
    assert [x["sys_id"] for x in r.json()["result"]] == [own]
    for path in (f"/api/now/attachment/{att}", f"/api/now/attachment/{att}/file"):
        r = inst.internal("GET", path)
        assert r.status_code == 404 and r.json() == NO_RECORD
        assert inst.nobody("GET", path).status_code == 404
    assert inst.internal("GET", f"/api/now/attachment/{own}/file").content == b"own"
    # no role: nothing
    r = inst.nobody("GET", "/api/now/attachment", params={"table_sys_id": inc})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "0" and r.json()["result"] == []


def test_writing_needs_write_on_the_parent(inst):
    inc = incident(inst)
    mine = incident(inst, caller_id=inst.internal_id)
    # itil writes incidents
    r = upload(inst, "incident", inc, "itil.txt", b"i", call=inst.itil)
    assert r.status_code == 201, r.text
    att = r.json()["result"]["sys_id"]
    assert r.json()["result"]["sys_created_by"] == "att.itil"
    # snc_internal reads their incident but may not write it: 403; a hidden one: 404
    r = upload(inst, "incident", mine, "x.txt", b"x", call=inst.internal)
    assert r.status_code == 403
    assert r.json() == {"error": {"message": "Operation Failed",
                                  "detail": "ACL Exception Insert Failed due to security constraints"},
                        "status": "failure"}
    r = upload(inst, "incident", inc, "x.txt", b"x", call=inst.nobody)
    assert r.status_code == 404 and r.json() == NO_RECORD
    r = inst.nobody("POST", "/api/now/attachment/upload", files=[
        ("table_name", (None, "incident")), ("table_sys_id", (None, inc)), ("f", ("a.txt", b"x", "text/plain"))])
    assert r.status_code == 404
    own = upload(inst, "incident", mine, "own.txt", b"own").json()["result"]["sys_id"]
    r = inst.internal("DELETE", f"/api/now/attachment/{own}")
    assert r.status_code == 403
    assert r.json()["error"]["detail"] == "ACL Exception Delete Failed due to security constraints"
    assert inst.nobody("DELETE", f"/api/now/attachment/{att}").status_code == 404
    r = inst.itil("DELETE", f"/api/now/attachment/{att}")
    assert r.status_code == 204 and r.content == b""
    assert inst.get(f"/api/now/attachment/{att}").status_code == 404


# ---- delete, rename, content lifetime --------------------------------------------------------

def test_delete_and_shared_content(inst):
    inc = incident(inst)
    data = b"shared content " + os.urandom(16)
    digest = hashlib.sha256(data).hexdigest()
    a = upload(inst, "incident", inc, "a.txt", data).json()["result"]["sys_id"]
    b = upload(inst, "incident", inc, "b.txt", data).json()["result"]["sys_id"]
    assert digest in content_files(inst)
    assert inst.delete(f"/api/now/attachment/{a}").status_code == 204
    assert digest in content_files(inst)  # b still uses it
    assert inst.get(f"/api/now/attachment/{b}/file").content == data
    assert inst.delete(f"/api/now/attachment/{b}").status_code == 204
    assert digest not in content_files(inst)


def test_rename(inst):
    inc = incident(inst)
    att = upload(inst, "incident", inc, "old.txt", b"r").json()["result"]["sys_id"]
    r = inst.patch(f"/api/now/attachment/{att}", json={"file_name": "new.txt"})
    assert r.status_code == 204
    assert inst.get(f"/api/now/attachment/{att}").json()["result"]["file_name"] == "new.txt"
    r = inst.patch(f"/api/now/attachment/{att}", json={})
    assert r.status_code == 400


def test_deleting_a_record_deletes_its_attachments(inst):
    def attach(inc, tag):
        data = f"{tag} ".encode() + os.urandom(16)
        att = upload(inst, "incident", inc, f"{tag}.txt", data).json()["result"]["sys_id"]
        return att, hashlib.sha256(data).hexdigest()

    # the Table API
    inc = incident(inst)
    att, digest = attach(inc, "table")
    assert inst.delete(f"/api/now/table/incident/{inc}").status_code == 204
    assert inst.get(f"/api/now/attachment/{att}").status_code == 404
    assert digest not in content_files(inst)
    # under a parent table's name: deleting through task removes an incident's attachments too
    inc = incident(inst)
    att, digest = attach(inc, "task")
    assert inst.delete(f"/api/now/table/task/{inc}").status_code == 204
    assert inst.get(f"/api/now/attachment/{att}").status_code == 404
    assert digest not in content_files(inst)
    # nowctl, online and offline
    inc = incident(inst)
    att, digest = attach(inc, "nowctl")
    nowctl(inst, "table", "delete", "incident", inc)
    assert inst.get(f"/api/now/attachment/{att}").status_code == 404
    assert digest not in content_files(inst)
    inc = incident(inst)
    att, digest = attach(inc, "offline")
    nowctl(inst, "table", "delete", "incident", inc, offline=True)
    assert inst.get(f"/api/now/attachment/{att}").status_code == 404
    assert digest not in content_files(inst)
    # a record of another table with the same sys_id keeps its attachments
    same = os.urandom(16).hex()
    inc = incident(inst, sys_id=same)
    r = inst.post("/api/now/table/sys_user", json={"sys_id": same, "user_name": "same." + same[:8]})
    assert r.status_code == 201 and r.json()["result"]["sys_id"] == same
    kept = upload(inst, "sys_user", same, "kept.txt", b"kept").json()["result"]["sys_id"]
    gone = upload(inst, "incident", same, "gone.txt", b"gone").json()["result"]["sys_id"]
    assert inst.delete(f"/api/now/table/incident/{inc}").status_code == 204
    assert inst.get(f"/api/now/attachment/{gone}").status_code == 404
    assert inst.get(f"/api/now/attachment/{kept}/file").content == b"kept"


# ---- memory and durability -----------------------------------------------------------------

def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


def test_100_mb_streams_in_and_out_in_bounded_memory(fresh):
    inc = incident(fresh)
    size, chunk = 100 * 1024 * 1024, 1024 * 1024
    block = os.urandom(chunk)
    digest = hashlib.sha256()
    for _ in range(size // chunk):
        digest.update(block)
    # warm up the paths once, then measure
    upload(fresh, "incident", inc, "warm.bin", block * 2)
    before = rss(fresh.proc.pid)
    r = upload(fresh, "incident", inc, "big.bin", (block for _ in range(size // chunk)),
               ctype="application/octet-stream")
    assert r.status_code == 201, r.text
    rec = r.json()["result"]
    assert (rec["size_bytes"], rec["hash"]) == (str(size), digest.hexdigest())
    got = hashlib.sha256()
    n = 0
    with fresh.get(f"/api/now/attachment/{rec['sys_id']}/file", stream=True) as r:
        assert r.status_code == 200
        for piece in r.iter_content(chunk):
            got.update(piece)
            n += len(piece)
    assert (n, got.hexdigest()) == (size, digest.hexdigest())
    after = rss(fresh.proc.pid)
    assert after["VmHWM"] - before["VmHWM"] < 64 * 1024 * 1024, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < 64 * 1024 * 1024, (before, after)


def test_acknowledged_uploads_survive_sigkill():
    s = Server(demo=False)
    inc = incident(s)

    def write(session, n, i):
        data = f"w{n}-{i} ".encode() * 200
        r = session.post(s.url + "/api/now/attachment/file", data=data, timeout=10,
                         params={"table_name": "incident", "table_sys_id": inc, "file_name": f"{n}-{i}.txt"},
                         headers={"Content-Type": "text/plain"})
        return (r.json()["result"]["sys_id"], data) if r.status_code == 201 else None

    acked = acked_across_sigkill(s, write, 4, 60)
    try:
        for sid, data in acked.items():
            r = s.get(f"/api/now/attachment/{sid}/file")
            assert r.status_code == 200, sid
            assert r.content == data
        r = s.get("/api/now/attachment", params={"table_sys_id": inc})
        assert int(r.headers["X-Total-Count"]) >= len(acked)
    finally:
        s.stop()
