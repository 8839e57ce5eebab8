"""The contract's release of the shipping data: the migration that drops the order's shipping
columns, and its reverse, which adds them back and refills them from logistics.

Installed only with SHIPPING_COLUMNS_DROPPED=true, the same setting that builds ``Order``
without those fields: the drop is a release (a model cannot keep fields whose columns are
gone), the contract phase before it is not (docs/adr/0022). A fresh clone's ``migrate`` never
sees it, so every earlier phase keeps its columns.
"""
