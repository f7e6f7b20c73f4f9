"""The fleet: templates per equipment type (`templates/<equipment_type>.yaml`).

A data package like `plants`: shipped in the wheel so an installed product finds the templates
without a checkout (`factory_mlops.config.template_dirs`). See docs/fleet.md.
"""
