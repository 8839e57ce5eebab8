"""The logistics HTTP API (DRF, under /api/v1/): an entry point of the logistics context.

Views parse the request, call one ``LogisticsService`` method (from ``logistics.wiring``) and
translate its answer; list and retrieve read ``ShipmentRecord`` rows through ``selectors``.
Nothing here decides a shipment's fate, and nothing here imports the legacy app.
"""
