"""Jupyter panels: ``ChatPanel``, ``ComparePanel``, ``UsageDashboard``.

ipywidgets and anywidget load with this package; pandas and matplotlib only when a panel
needs them. ``import qolaba_nb`` does not import this package (``qolaba_nb.ChatPanel`` does).
"""

from __future__ import annotations

from .chat import ChatPanel
from .compare import ComparePanel
from .dashboard import UsageDashboard

__all__ = ["ChatPanel", "ComparePanel", "UsageDashboard"]
