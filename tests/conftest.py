"""Suite-wide collection rules.

``tests/plugin_user/`` is a separate test suite written as another project would write it, against the
installed pytest plugin; ``tests/integration/test_pytest_plugin.py`` runs it in its own pytest process, so
this suite must not collect it a second time.

The suite's language is English whatever the machine's locale (docs/i18n.md, "Choosing the language"): a
newcomer whose LANG is zh_CN.UTF-8 runs the same assertions as CI. ``$PUSHSIM_LANG`` is set here, before any
program is started, so subprocesses inherit it; a test about Chinese asks for it (``--lang zh``, its own
environment, or ``pushsim_i18n.use``).
"""

import os

collect_ignore = ["plugin_user"]

os.environ["PUSHSIM_LANG"] = "en"
