"""The Import and Export buttons of the CI change list: a preview (a dry
run) before anything is written, then the import as the user; offered to a
configuration manager only, refused (403, kept) to anyone else."""
import re

import pytest
from django.urls import reverse

from cmdb.models import ConfigurationItem
from releases.models import RefusedAttempt

pytestmark = pytest.mark.django_db
IMPORT = reverse("admin:cmdb_configurationitem_import")


def test_a_configuration_manager_previews_then_imports(client, confman, write_csv):
    client.force_login(confman)
    assert IMPORT in client.get(reverse("admin:cmdb_configurationitem_changelist")).content.decode()
    path = write_csv([["orders-api", "application", "2.3", "", "", "orders-db", ""],
                      ["orders-db", "database", "14", "", "", "", ""]])
    with open(path, "rb") as handle:
        preview = client.post(IMPORT, {"format": "0", "import_file": handle})
    page = preview.content.decode()
    assert preview.status_code == 200 and "Confirm import" in page, page[:3000]
    assert not ConfigurationItem.objects.exists()  # the preview was a dry run
    confirm = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    response = client.post(reverse("admin:cmdb_configurationitem_process_import"), confirm)
    assert response.status_code == 302
    api = ConfigurationItem.objects.get(name="orders-api")
    assert list(api.depends_on.values_list("name", flat=True)) == ["orders-db"]
    assert {h.history_user for h in api.history.all()} == {confman}


def test_a_bad_row_is_shown_with_its_row_and_nothing_is_offered(client, confman, write_csv):
    client.force_login(confman)
    with open(write_csv([["ok", "application", "1", "", "", "", ""],
                         ["bad", "application", "1", "", "", "bad", ""]]), "rb") as handle:
        page = client.post(IMPORT, {"format": "0", "import_file": handle}).content.decode()
    assert "A configuration item cannot depend on itself." in page and "Confirm import" not in page


def test_anyone_else_is_neither_offered_nor_let_in(client, staff):
    cm = staff("change_manager")
    client.force_login(cm)
    assert IMPORT not in client.get(reverse("admin:cmdb_configurationitem_changelist")).content.decode()
    assert client.get(IMPORT).status_code == 403
    assert client.post(reverse("admin:cmdb_configurationitem_process_import"), {}).status_code == 403
    assert RefusedAttempt.objects.filter(by=cm, action="import", entry_point="admin").count() == 2


def test_the_export_button_writes_what_the_list_shows(client, confman, small_cmdb):
    client.force_login(confman)
    response = client.post(reverse("admin:cmdb_configurationitem_export"),
                           {"format": "0", "resource": "0", **{f"configurationitemresource_{f}": "on" for f in
                            ("name", "version", "depends_on")}})
    assert response.status_code == 200, response.content.decode()[:2000]
    lines = response.content.decode().splitlines()
    assert lines[0] == "name,version,depends_on" and "orders-api,2.3,'=cache; orders-db" in lines
