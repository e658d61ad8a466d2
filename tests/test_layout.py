"""The layout rules (issue 14): no import cycle among the project's modules,
imports inside functions counted; no two apps importing each other (the URL
roots and settings aside); no module over 600 lines and no function over 80
outside tests, migrations and the benchmark. The measures are in
tests/layout.py; ``python -m tests.layout`` prints them.

The apps also depend in one direction (``layout.LAYERS``): the ground,
then change management and the CMDB, then the release process, then the
concerns built on it (calendars, reports, audit), then notifications,
which attach the calendar to what they send.
"""
from __future__ import annotations

import re
import textwrap

import pytest

from tests import layout

@pytest.fixture(scope="module")
def project():
    return layout.read_project()


# --- the rules, on the project ----------------------------------------------------------------------------------


def test_no_import_cycle(project):
    cycles = layout.import_cycles(project)
    assert not cycles, layout.report(cycles, "import cycles (imports inside functions counted)")


def test_no_two_apps_import_each_other(project):
    mutual = layout.mutual_app_imports(project)
    assert not mutual, layout.report(mutual, "pairs of apps importing each other (URL roots and settings aside)")


def test_apps_depend_inward(project):
    upward = layout.upward_app_imports(project)
    assert not upward, layout.report(upward, "imports against the apps' direction (layout.LAYERS)")


def test_no_module_over_600_lines(project):
    long = layout.long_modules(project)
    assert not long, layout.report(long, f"modules over {layout.MAX_MODULE_LINES} lines")


def test_no_function_over_80_lines(project):
    long = layout.long_functions(project)
    assert not long, layout.report(long, f"functions over {layout.MAX_FUNCTION_LINES} lines")


def test_every_django_app_is_one_the_rules_read():
    """An app the packaging does not include would escape the rules: every
    top-level package with an AppConfig is in pyproject's include."""
    django_apps = sorted(path.parent.name for path in layout.ROOT.glob("*/apps.py")
                         if (path.parent / "__init__.py").is_file())
    assert set(django_apps) <= set(layout.app_names())
    assert {"releasemgmt", "releases", "changes", "cmdb"} <= set(layout.app_names())


def test_the_project_is_read_whole(project):
    """The measures see the modules that exist, migrations aside, and the
    imports inside functions."""
    assert "releases.services" in project.modules and "releasemgmt.workflow" in project.modules
    assert not any(".migrations" in name for name in project.modules)
    assert not any(name.split(".")[0] in {"tests", "bench"} for name in project.modules)
    assert project.imports["releases.services"], "releases.services imports project modules"


# --- the measures themselves, on a small package of known shape --------------------------------------------------


def write(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


PYPROJECT = '[tool.setuptools.packages.find]\ninclude = ["core*", "calendars*", "reports*"]\n'


@pytest.fixture
def clean(tmp_path):
    """Three apps, the concerns depending on the core only, short functions."""
    write(tmp_path, {
        "pyproject.toml": PYPROJECT,
        "core/__init__.py": "",
        "core/models.py": "class Release:\n    pass\n",
        "core/services.py": "from .models import Release\n\n\ndef run():\n    return Release()\n",
        "core/migrations/__init__.py": "",
        "core/migrations/0001_initial.py": "from calendars import views\n",  # migrations are not read
        "calendars/__init__.py": "",
        "calendars/views.py": "from core import services\n",
        "reports/__init__.py": "",
        "reports/metrics.py": "import core.models as m\n",
        "notanapp/__init__.py": "from core import services\n",  # not included by pyproject: not read
    })
    return tmp_path


def test_a_clean_package_passes_every_measure(clean):
    project = layout.read_project(clean)
    assert layout.app_names(clean) == ["calendars", "core", "reports"]
    assert "core.migrations.0001_initial" not in project.modules
    assert project.imports["reports.metrics"] == {"core.models"}
    assert project.imports["calendars.views"] == {"core.services"}
    assert layout.import_cycles(project) == []
    assert layout.mutual_app_imports(project) == []
    assert layout.long_modules(project) == [] and layout.long_functions(project) == []


def test_a_cycle_through_an_import_inside_a_function_is_found(clean):
    write(clean, {"core/models.py": """\
        class Release:
            def plan(self):
                from . import services  # lazy, still an import

                return services.run()
        """})
    cycles = layout.import_cycles(layout.read_project(clean))
    assert len(cycles) == 1
    assert cycles[0].startswith("2 modules: core.models, core.services")
    assert "core.models -> core.services -> core.models" in cycles[0]


@pytest.mark.parametrize("spelling", [
    "import core.services as s",
    "from core import services",
    "from .. import services",
    "from ..services import run",
    "import importlib\nimportlib.import_module('core.services')",
])
def test_each_spelling_of_an_import_is_resolved(clean, spelling):
    write(clean, {"core/sub/__init__.py": "", "core/sub/deep.py": spelling + "\n",
                  "core/services.py": "from .sub import deep\n"})
    project = layout.read_project(clean)
    assert "core.services" in project.imports["core.sub.deep"]
    assert project.imports["core.services"] == {"core.sub.deep"}  # the submodule, not its package
    assert len(layout.import_cycles(project)) == 1


def test_a_name_imported_from_a_package_is_an_import_of_the_package(clean):
    write(clean, {"core/__init__.py": "from .models import Release\n",
                  "reports/metrics.py": "from core import Release\n"})
    project = layout.read_project(clean)
    assert project.imports["reports.metrics"] == {"core"}
    assert project.imports["core"] == {"core.models"}


def test_two_apps_importing_each_other_are_found_and_url_roots_are_not(clean):
    write(clean, {"core/forms.py": "def form():\n    from calendars.views import x\n"})
    mutual = layout.mutual_app_imports(layout.read_project(clean))
    assert len(mutual) == 1
    assert mutual[0].startswith("calendars <-> core")
    assert "core.forms -> calendars.views" in mutual[0] and "calendars.views -> core.services" in mutual[0]
    assert layout.import_cycles(layout.read_project(clean)) == []  # app-level, not a module cycle

    # The project's own URL roots and settings gather the apps by design.
    write(clean, {
        "pyproject.toml": PYPROJECT.replace('"core*"', '"core*", "releasemgmt*"'),
        "core/forms.py": "from releasemgmt import workflow\n",
        "releasemgmt/__init__.py": "", "releasemgmt/workflow.py": "",
        "releasemgmt/urls.py": "from core import services\n",
        "releasemgmt/api_urls.py": "from core import services\n",
        "releasemgmt/settings/__init__.py": "from core import models\n",
    })
    project = layout.read_project(clean)
    assert project.imports["releasemgmt.urls"] == {"core.services"}
    assert layout.mutual_app_imports(project) == []
    write(clean, {"releasemgmt/workflow.py": "from core.models import Release\n"})
    mutual = layout.mutual_app_imports(layout.read_project(clean))
    assert [m.splitlines()[0] for m in mutual] == ["core <-> releasemgmt"]


def test_long_modules_and_functions_are_found(clean):
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    write(clean, {"core/long.py": f"def eighty_one():\n{body}\n\n\ndef short():\n    pass\n",
                  "core/big.py": "x = 1\n" * 601,
                  "core/fits.py": "x = 1\n" * 600})
    project = layout.read_project(clean)
    assert layout.long_functions(project) == ["core.long.eighty_one at line 1 (81 lines)"]
    assert layout.long_modules(project) == ["core.big (601 lines)"]


def test_an_import_against_the_layers_is_found(clean):
    layers = (("core",), ("calendars", "reports"))
    assert layout.upward_app_imports(layout.read_project(clean), layers) == []
    # The core reaching up into a concern, even lazily, and one concern into its sibling.
    write(clean, {"core/services.py": "def run():\n    from reports import metrics\n",
                  "calendars/views.py": "from reports.metrics import m\n"})
    upward = layout.upward_app_imports(layout.read_project(clean), layers)
    assert [u.splitlines()[0] for u in upward] == ["calendars -> reports", "core -> reports"]
    # An app nobody placed is reported, so a new app must be given a layer.
    assert layout.upward_app_imports(layout.read_project(clean), (("core",), ("calendars",))) [0] == \
        "reports: not placed in a layer"


def test_the_container_image_copies_every_app():
    """The image is built from a list of directories: an app missing from it
    would install and then fail at start (INSTALLED_APPS names it)."""
    dockerfile = (layout.ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, flags=re.M))
    missing = set(layout.app_names()) - copied
    assert not missing, f"Dockerfile does not copy: {', '.join(sorted(missing))}"
