"""The operator console (Textual): one mode per area, screens under `screens/`, reusable
widgets under `widgets/`, modals under `modals/`. It calls `app.service` only."""

from __future__ import annotations

__all__: list[str] = []
