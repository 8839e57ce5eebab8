"""The logistics bounded context: shipments and everything about dispatching them.

Other packages use ``logistics.public`` only (an import-linter contract); this package never
imports the legacy app. Its tables live on the ``logistics`` database alias.
"""
