"""Hardware behind small interfaces, each with a real backend and a simulated one.

Exceptions::

    CameraError (RuntimeError)   no camera, no capture tool, or the capture failed

Importing this package starts nothing and touches no device.
"""

from __future__ import annotations

from tapin.hardware.camera import Camera, CameraError, SimulatedCamera, V4L2Camera

__all__ = ["Camera", "CameraError", "SimulatedCamera", "V4L2Camera"]
