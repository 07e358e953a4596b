"""A local simulator of the Qolaba chat API, for offline notebooks, teaching and tests.

    from qolaba_nb.simulator import Simulator

    with Simulator() as sim:
        ...  # point a client at sim.base_url with sim.api_key

Or from a shell: ``python -m qolaba_nb.simulator --port 8765``.
"""

from __future__ import annotations

from ._app import DEFAULT_API_KEY, SimStats, create_app
from ._catalogue import MODELS, SimModel
from ._runner import Simulator

__all__ = ["DEFAULT_API_KEY", "MODELS", "SimModel", "SimStats", "Simulator", "create_app"]
