"""The console for every user and attachments on forms (issue 20).

An itil user cannot read sys_dictionary or sys_choice, yet the incident form shows choice lists
and reference lookups: the columns come from GET /api/now/ui/meta/{table}, which answers for the
signed-in user. A form's attachments are uploaded, listed, downloaded and deleted through the
Attachment API with the session, the server's refusals shown as it words them."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import as_user, nowctl, sign_in
from test_views import api_rows, expected_console_errors, new_incident, open_page, wait


def itil_user(server, name):
    nowctl(server, "user", "add", name, "--password", "Itil-pass-1234")
    nowctl(server, "role", "grant", "itil", "--user", name)


def test_itil_incident_form_has_choice_lists_and_references(server, driver):
    itil_user(server, "itil.form")
    assert server.get("/api/now/table/sys_dictionary").status_code == 200
    rec = new_incident(server, short_description="Seen by itil", category="network", impact="2")
    sign_in(driver, server, user="itil.form", password="Itil-pass-1234")
    driver.get_log("browser")  # the navigator's table list is refused to itil: expected
    open_page(driver, server, f"/incident.do?sys_id={rec['sys_id']}")
    assert rec["number"] in driver.find_element(By.TAG_NAME, "h1").text
    # choice lists with their labels, the record's value chosen
    state = Select(driver.find_element(By.ID, "sg-f-state"))
    assert {"New", "In Progress", "Resolved", "Closed"} <= {o.text for o in state.options}
    assert Select(driver.find_element(By.ID, "sg-f-category")).first_selected_option.text == "Network"
    assert Select(driver.find_element(By.ID, "sg-f-impact")).first_selected_option.get_attribute("value") == "2"
    # labels from the dictionary, not field names
    label = driver.find_element(By.CSS_SELECTOR, "label[for=sg-f-short_description]").text
    assert label.startswith("Short description")
    # references are lookups, as for an admin
    ref = driver.find_element(By.ID, "sg-f-caller_id")
    assert ref.get_attribute("role") == "combobox"
    ref.send_keys("Beth")
    lst = "#" + ref.get_attribute("aria-controls")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, lst + " li[role=option]:not([aria-disabled])"))
    assert "Beth Anglin" in [o.text for o in driver.find_elements(By.CSS_SELECTOR, lst + " li")]
    expected_console_errors(driver, r" 403 ")  # nothing but refusals the navigator provoked
    # the list has the dictionary's columns and labels too
    open_page(driver, server, "/incident_list.do")
    assert driver.find_element(By.CSS_SELECTOR, "th[data-field=short_description]").text.startswith("Short description")
    expected_console_errors(driver, r" 403 ")


def heading(driver):
    """The attachments section's heading, read at once (the section is redrawn after a change)."""
    return driver.execute_script("const e = document.querySelector('#sg-attachments h2');"
                                 "return e ? e.textContent : null")


def test_attachments_upload_list_download_delete(server, driver, tmp_path):
    rec = new_incident(server, short_description="Attach to me")
    note = tmp_path / "note.txt"
    note.write_bytes(b"line one\nline two\n")
    evil = tmp_path / "evil.exe"
    evil.write_bytes(b"MZ\x90\x00")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    sign_in(driver, server)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    open_page(driver, server, f"/incident.do?sys_id={rec['sys_id']}")
    sec = driver.find_element(By.ID, "sg-attachments")
    assert sec.get_attribute("aria-labelledby") == "sg-attachments-title"
    assert heading(driver) == "Attachments (0)"

    # upload: through the labelled file input, as a keyboard user reaches it
    assert driver.find_element(By.CSS_SELECTOR, "label[for=sg-attach-file]").text == "Attach a file"
    driver.find_element(By.ID, "sg-attach-file").send_keys(str(note))
    driver.find_element(By.ID, "sg-attach-upload").click()
    wait(driver, lambda d: heading(d) == "Attachments (1)")
    assert "Attachment added: note.txt" in driver.find_element(By.CSS_SELECTOR, "#sg-attachments .sg-msg-info").text
    rows = api_rows(server, "sys_attachment", f"table_name=incident^table_sys_id={rec['sys_id']}",
                    "sys_id,file_name,size_bytes,content_type")
    assert [(r["file_name"], r["size_bytes"]) for r in rows] == [("note.txt", "18")]
    assert rows[0]["content_type"] == "text/plain"
    item = driver.find_element(By.CSS_SELECTOR, f"#sg-attachments li[data-sys-id='{rows[0]['sys_id']}']")
    assert "18 bytes" in item.text

    # download: the bytes the server holds, saved under the file's name
    item.find_element(By.CSS_SELECTOR, ".sg-attachment-name").click()
    saved = downloads / "note.txt"
    wait(driver, lambda d: saved.exists() and saved.read_bytes() == note.read_bytes())

    # the server's refusal, as it words it: an extension the instance does not allow
    server.set_property("glide.attachment.extensions", "txt,pdf")
    driver.find_element(By.ID, "sg-attach-file").send_keys(str(evil))
    driver.find_element(By.ID, "sg-attach-upload").click()
    err = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#sg-attachments .sg-msg-error"))
    assert "The file extension of 'evil.exe' is not allowed" in err.text
    assert expected_console_errors(driver, r"/api/now/attachment/file\?.* 403") == 1
    assert len(api_rows(server, "sys_attachment", f"table_sys_id={rec['sys_id']}", "sys_id")) == 1
    server.set_property("glide.attachment.extensions", "")

    # delete: asked first; cancelled keeps it, accepted removes it
    delete = driver.find_element(By.CSS_SELECTOR, "#sg-attachments .sg-attachment-delete")
    assert delete.get_attribute("aria-label") == "Delete note.txt"
    delete.click()
    driver.switch_to.alert.dismiss()
    assert len(api_rows(server, "sys_attachment", f"table_sys_id={rec['sys_id']}", "sys_id")) == 1
    delete.click()
    driver.switch_to.alert.accept()
    wait(driver, lambda d: heading(d) == "Attachments (0)")
    assert "Attachment deleted: note.txt" in driver.find_element(By.CSS_SELECTOR, "#sg-attachments .sg-msg-info").text
    assert api_rows(server, "sys_attachment", f"table_sys_id={rec['sys_id']}", "sys_id") == []


def test_attachment_refused_to_a_user_who_may_not_write_the_record(server, driver, tmp_path):
    """A caller (snc_internal) reads their own incident but may not change it: the upload is
    refused, and the form says so in the server's words."""
    nowctl(server, "user", "add", "caller.attach", "--password", "Caller-pass-1234")
    nowctl(server, "role", "grant", "snc_internal", "--user", "caller.attach")
    me = api_rows(server, "sys_user", "user_name=caller.attach", "sys_id")[0]["sys_id"]
    rec = new_incident(server, short_description="My own incident", caller_id=me)
    note = tmp_path / "note.txt"
    note.write_bytes(b"hello")
    sign_in(driver, server, user="caller.attach", password="Caller-pass-1234")
    driver.get_log("browser")  # the navigator's table list is refused: expected
    open_page(driver, server, f"/incident.do?sys_id={rec['sys_id']}")
    assert rec["number"] in driver.find_element(By.TAG_NAME, "h1").text
    driver.find_element(By.ID, "sg-attach-file").send_keys(str(note))
    driver.find_element(By.ID, "sg-attach-upload").click()
    err = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#sg-attachments .sg-msg-error"))
    api = as_user(server, "caller.attach", "Caller-pass-1234")(
        "POST", f"/api/now/attachment/file?table_name=incident&table_sys_id={rec['sys_id']}&file_name=x.txt",
        data=b"x", headers={"Content-Type": "text/plain"})
    assert api.status_code == 403
    said = api.json()["error"]
    assert err.text.startswith(said.get("detail") or said["message"]), (err.text, said)
    assert api_rows(server, "sys_attachment", f"table_sys_id={rec['sys_id']}", "sys_id") == []
    assert expected_console_errors(driver, r" 403 ") >= 1
