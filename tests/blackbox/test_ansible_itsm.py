"""The Ansible collection servicenow.itsm, unchanged, against nowd: our playbooks in
tests/clients/ansible drive its incident, problem, change, CI, attachment and generic
api modules by URL, and assert every answer.

ansible-playbook comes from Debian (ansible-core): given the collection but no
ansible-playbook, the test fails.  The collection is not in any Debian package (Debian 12's
`ansible` 7.7.0 bundle leaves servicenow.itsm out), so it is found at
SNOWGLOBE_ITSM_COLLECTION (a checkout of ansible-collections/servicenow.itsm, or a
collections root holding ansible_collections/servicenow/itsm) or in the system's
collection directories; when it is nowhere the test is skipped and says why.
Nothing from ~ or /etc/ansible is read: config, home and temp dirs are the test's own.
"""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import PASSWORD, Server

PLAYBOOKS = os.path.join(os.path.dirname(__file__), "..", "clients", "ansible")
AREAS = ["incident", "problem", "change", "cmdb", "attachment", "api"]
SYSTEM_ROOTS = ["/usr/share/ansible/collections", "/usr/lib/python3/dist-packages"]


def collection_root(scratch):
    """A directory holding ansible_collections/servicenow/itsm, or None."""
    given = os.environ.get("SNOWGLOBE_ITSM_COLLECTION")
    if given:
        if os.path.isdir(os.path.join(given, "ansible_collections", "servicenow", "itsm")):
            return given
        galaxy = os.path.join(given, "galaxy.yml")
        assert os.path.isfile(galaxy), f"SNOWGLOBE_ITSM_COLLECTION={given}: no galaxy.yml nor ansible_collections/"
        with open(galaxy) as f:
            text = f.read()
        assert "namespace: servicenow" in text and "name: itsm" in text, f"{given} is not servicenow.itsm"
        root = os.path.join(scratch, "collections")
        os.makedirs(os.path.join(root, "ansible_collections", "servicenow"))
        os.symlink(os.path.abspath(given), os.path.join(root, "ansible_collections", "servicenow", "itsm"))
        return root
    for root in SYSTEM_ROOTS:
        if os.path.isdir(os.path.join(root, "ansible_collections", "servicenow", "itsm")):
            return root
    return None


@pytest.fixture(scope="module")
def ansible():
    scratch = tempfile.mkdtemp(prefix="sg-ansible-")
    root = collection_root(scratch)
    if root is None:
        shutil.rmtree(scratch)
        pytest.skip("servicenow.itsm is not installed (no Debian package carries it): "
                    "set SNOWGLOBE_ITSM_COLLECTION to a checkout of ansible-collections/servicenow.itsm")
    playbook = shutil.which("ansible-playbook")
    assert playbook, "ansible-playbook is missing: apt-get install ansible-core"
    cfg = os.path.join(scratch, "ansible.cfg")
    with open(cfg, "w") as f:
        f.write("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=scratch, ANSIBLE_CONFIG=cfg, ANSIBLE_COLLECTIONS_PATH=root, ANSIBLE_COLLECTIONS_PATHS=root,
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="true" if root in SYSTEM_ROOTS else "false",
               ANSIBLE_LOCAL_TEMP=os.path.join(scratch, "tmp"), ANSIBLE_REMOTE_TEMP=os.path.join(scratch, "tmp"),
               ANSIBLE_ROLES_PATH=os.path.join(scratch, "roles"), ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_GATHERING="explicit",
               ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH="ignore", ANSIBLE_DEPRECATION_WARNINGS="false")
    server = Server()
    yield playbook, env, scratch, server
    server.stop()
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("area", AREAS)
def test_itsm_playbook(ansible, area):
    playbook, env, scratch, server = ansible
    work = tempfile.mkdtemp(dir=scratch)
    r = subprocess.run([playbook, "-i", "localhost,", "-c", "local", "--tags", area,
                        "-e", f"sn_host={server.url}", "-e", "sn_username=admin", "-e", f"sn_password={PASSWORD}",
                        "-e", f"work_dir={work}", os.path.join(PLAYBOOKS, "site.yml")],
                       capture_output=True, text=True, env=env, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "failed=0" in out and "ok=" in out, out[-6000:]
    # Not vacuous: the area's own tasks ran (more than the always-tagged file set-up).
    recap = [line for line in out.splitlines() if line.startswith("localhost")]
    assert recap and int(recap[-1].split("ok=")[1].split()[0]) > 2, out[-3000:]
