"""The ops panel at /ops/strangler/: the strangler's state for staff, and its controls.

``views``: the page, its JSON (``state.json``, polled by ``static/strangler/panel.js``) and one
POST view per control; ``forms``: what each control takes; ``charts``: the hour's traffic as
inline SVG; ``access``: who may see it. Every change goes through ``strangler.services`` (via
``panel``), so it is validated, audited and announced like one made in the admin.
"""
