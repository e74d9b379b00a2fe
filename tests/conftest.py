"""Suite-wide collection rules.

``tests/plugin_user/`` is a separate test suite written as another project would write it, against the
installed pytest plugin; ``tests/integration/test_pytest_plugin.py`` runs it in its own pytest process, so
this suite must not collect it a second time.
"""

collect_ignore = ["plugin_user"]
